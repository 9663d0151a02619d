; Helpers shared by the headless GIMP tests (Script-Fu, GIMP 2.10). Expects `outdir` and
; `session` to be defined. Results go to outdir/results-SESSION.txt as "PASS name" /
; "FAIL name: details" lines; the shell driver fails on any FAIL line or a missing "DONE".

(define results (open-output-file (string-append outdir "/results-" session ".txt")))
(define (log-line . parts)
  (for-each (lambda (p) (display p results)) parts)
  (newline results))
(define (check name ok . details)
  (if ok
      (log-line "PASS " name)
      (log-line "FAIL " name ": " details)))
(define (finish)
  (log-line "DONE")
  (close-output-port results))

; Runs thunk; on a Script-Fu/PDB error returns 'error and keeps the message in last-error.
(define last-error "")
(define (try thunk)
  (call/cc
   (lambda (k)
     (set! *error-hook*
           (lambda args
             (set! last-error (if (string? (car args)) (car args) "(non-string error)"))
             (set! *error-hook* throw)
             (k 'error)))
     (let ((r (thunk)))
       (set! *error-hook* throw)
       r))))

; Index of the first `sub` in `s`, or #f.
(define (string-index s sub)
  (let ((n (string-length s)) (m (string-length sub)))
    (let loop ((i 0))
      (cond ((> (+ i m) n) #f)
            ((string=? (substring s i (+ i m)) sub) i)
            (else (loop (+ i 1)))))))
(define (string-contains? s sub) (if (string-index s sub) #t #f))
; The N of a result layer named "... (seed N)", or #f.
(define (seed-in-name name)
  (let ((i (string-index name "(seed ")))
    (if i (string->number (substring name (+ i 6) (- (string-length name) 1))) #f)))

(define (new-image w h type) (car (gimp-image-new w h type)))
; A layer on top of the stack at offsets (x, y).
(define (add-layer img w h type name x y)
  (let ((l (car (gimp-layer-new img w h type name 100 LAYER-MODE-NORMAL))))
    (gimp-image-insert-layer img l 0 0)
    (gimp-layer-set-offsets l x y)
    l))
(define (fill l r g b)
  (gimp-context-set-foreground (list r g b))
  (gimp-drawable-fill l FILL-FOREGROUND))
(define (plasma l seed)
  (plug-in-plasma RUN-NONINTERACTIVE (car (gimp-item-get-image l)) l seed 2.0))
(define (export l file)
  (let ((path (string-append outdir "/" file)))
    (file-png-save RUN-NONINTERACTIVE (car (gimp-item-get-image l)) l path path 0 9 0 0 0 0 0)))
(define (num-layers img) (car (gimp-image-get-layers img)))
(define (layer-at img i) (aref (cadr (gimp-image-get-layers img)) i))
(define (name-of item) (car (gimp-item-get-name item)))
(define (width-of d) (car (gimp-drawable-width d)))
(define (height-of d) (car (gimp-drawable-height d)))
(define (position-of img item) (car (gimp-image-get-item-position img item)))
(define (delete-all-images)
  (for-each gimp-image-delete (vector->list (cadr (gimp-image-list)))))

; The scene every session starts from, in the globals img, before, after and query: a 64x64 RGB
; image whose layers are, bottom to top, "before" (flat grey), "after" (painted by paint-after)
; and "query" (plasma, seed 11). check_outputs.cpp relies on these contents.
(define img #f)
(define before #f)
(define after #f)
(define query #f)
(define (make-exemplar-scene paint-after)
  (set! img (new-image 64 64 RGB))
  (set! before (add-layer img 64 64 RGB-IMAGE "before" 0 0))
  (set! after (add-layer img 64 64 RGB-IMAGE "after" 0 0))
  (set! query (add-layer img 64 64 RGB-IMAGE "query" 0 0))
  (fill before 200 200 200)
  (paint-after after)
  (plasma query 11))

; plug-in-editclip-apply with the test's small defaults (2 steps at 64 px, CPU).
(define (apply-edit img query before after seed outside)
  (plug-in-editclip-apply RUN-NONINTERACTIVE img query before after 2 7.0 1.5 seed 64 0 outside
                          "" 1))

; A failing call must fail with `expected` in its message and leave the image as it was
; (same layer count; the query's pixels are compared by the checker from the two exports).
(define (expect-refusal name img query thunk expected)
  (let ((layers (num-layers img)))
    (export query (string-append name "_query_before.png"))
    (let ((r (try thunk)))
      (check (string-append name ": refused") (eq? r 'error) "call succeeded")
      (check (string-append name ": message") (string-contains? last-error expected)
             "got: " last-error)
      (check (string-append name ": no layer added") (= layers (num-layers img))
             layers " -> " (num-layers img))
      (export query (string-append name "_query_after.png")))))
