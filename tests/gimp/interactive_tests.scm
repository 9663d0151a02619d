; Sessions 3 and 4 (GUI GIMP under Xvfb): the interactive path of plug-in-editclip-apply and
; -apply-all, with the dialogs answering themselves (EDITCLIP_DIALOG_AUTO, see ui/dialogs.h).
; Session "interactive": OK adds the result layer; with exemplars of different sizes the note
; is shown to the user in a message. Session "cancel": the progress window's Cancel is pressed
; half-way (EDITCLIP_PROGRESS_CANCEL_AT=0.5); a single apply leaves the image as it was, Apply to
; All keeps the image it finished, leaves the one in progress and the rest alone, and says so in
; a message. Messages go to GIMP's stderr (the session log), which run_gimp_tests.sh checks.
; Models from the environment.

(gimp-message-set-handler CONSOLE)
(make-exemplar-scene (lambda (l) (plasma l 3)))
(define disp (car (gimp-display-new img)))
; A non-interactive call first: its values become the dialog's "last values" (2 steps, 64 px).
(apply-edit img query before after 4 0)
(define n0 (num-layers img))
(export query (string-append session "_query_before.png"))
(define r (try (lambda () (plug-in-editclip-apply RUN-INTERACTIVE img query before after 2 7.0 1.5
                                                  4 64 0 0 "" 1))))
(check (string-append session ": call returns") (not (eq? r 'error)) last-error)
(if (string=? session "cancel")
    (check "cancel: no layer added" (= (num-layers img) n0) n0 " -> " (num-layers img))
    (begin
      (check "interactive: one layer added" (= (num-layers img) (+ n0 1)) n0 " -> " (num-layers img))
      (check "interactive: layer name" (string-contains? (name-of (layer-at img 0)) "EditCLIP: ")
             (name-of (layer-at img 0)))))
(export query (string-append session "_query_after.png"))

(if (string=? session "interactive")
    ; Exemplars of different sizes: the dialog's run reports the resize note in a message.
    (let ((small (add-layer img 32 24 RGB-IMAGE "small before" 0 0)))
      (fill small 90 90 90)
      (gimp-image-set-active-layer img query)
      (apply-edit img query small after 4 0)  ; last values: the small exemplar
      (let ((n (num-layers img))
            (rn (try (lambda () (plug-in-editclip-apply RUN-INTERACTIVE img query small after 2
                                                        7.0 1.5 4 64 0 0 "" 1)))))
        (check "interactive notes: call returns" (not (eq? rn 'error)) last-error)
        (check "interactive notes: one layer added" (= (num-layers img) (+ n 1))))))

(gimp-display-delete disp)  ; an image with a display cannot be deleted
(delete-all-images)

(if (string=? session "cancel")
    ; Apply to All over three images (the exemplar pair lives under the first one's query).
    (let* ((unused (make-exemplar-scene (lambda (l) (plasma l 3))))
           (c1 img)
           (d1 (car (gimp-display-new c1))))
      ; Last values for the dialog: a non-interactive call while the only image's active layer
      ; is the exemplar, so it is skipped and nothing is edited (the call fails).
      (gimp-image-set-active-layer c1 after)
      (try (lambda () (plug-in-editclip-apply-all RUN-NONINTERACTIVE c1 after before after 2 7.0
                                                  1.5 6 64 0 0 "" 1)))
      (gimp-image-set-active-layer c1 query)
      (let* ((c2 (new-image 40 40 RGB)) (q2 (add-layer c2 40 40 RGB-IMAGE "second" 0 0))
             (c3 (new-image 40 40 RGB)) (q3 (add-layer c3 40 40 RGB-IMAGE "third" 0 0)))
        (plasma q2 12)
        (plasma q3 13)
        (export q2 "cancelall_second_before.png")
        (export q3 "cancelall_third_before.png")
        (let* ((before-count (+ (num-layers c1) (num-layers c2) (num-layers c3)))
               (ra (try (lambda () (plug-in-editclip-apply-all RUN-INTERACTIVE c1 query before
                                                               after 2 7.0 1.5 6 64 0 0 "" 1))))
               (added (- (+ (num-layers c1) (num-layers c2) (num-layers c3)) before-count)))
          (check "cancel all: call returns" (not (eq? ra 'error)) last-error)
          (check "cancel all: the finished image keeps its layer, the others get none"
                 (= added 1) added " layers added"))
        (export q2 "cancelall_second_after.png")
        (export q3 "cancelall_third_after.png"))
      (gimp-display-delete d1)
      (delete-all-images)))
(finish)
