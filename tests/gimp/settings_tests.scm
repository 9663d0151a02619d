; Session 1: no model environment variables, only EDITCLIP_SETTINGS pointing at a file that does
; not exist yet. Missing weights, then a 3-channel CLIP given as EditCLIP, then working models,
; all configured through plug-in-editclip-settings (the settings file the CLI also reads).
; Expects `outdir` and `fixtures` (tests/fixtures/models).

(make-exemplar-scene (lambda (l) (fill l 40 90 160)))

; 1. no weights configured: the first-run explanation, image unchanged
(expect-refusal "missing" img query
                (lambda () (apply-edit img query before after 1 0))
                "QWW/EditCLIP")

; 2. a plain 3-channel CLIP configured as the EditCLIP encoder
(let ((r (plug-in-editclip-settings RUN-NONINTERACTIVE
                                    (string-append fixtures "/clip_a/clip")
                                    (string-append fixtures "/ip2p_a") "cpu")))
  (check "settings: returns the file" (string-contains? (car r) "settings.json") (car r)))
(expect-refusal "threechannel" img query
                (lambda () (apply-edit img query before after 1 0))
                "EditCLIP needs 6")

; 3. the right models through the settings file: works
(plug-in-editclip-settings RUN-NONINTERACTIVE (string-append fixtures "/editclip_a/clip") "" "")
(let ((r (try (lambda () (apply-edit img query before after 5 0)))))
  (check "settings file models: apply works" (not (eq? r 'error)) last-error)
  (if (not (eq? r 'error))
      (check "settings file models: name" (string=? (name-of (car r)) "EditCLIP: before → after (seed 5)")
             (name-of (car r)))))

(delete-all-images)
(finish)
