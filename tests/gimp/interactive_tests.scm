; Sessions 3 and 4 (GUI GIMP under Xvfb): the interactive path of plug-in-editclip-apply, with the
; dialogs answering themselves (EDITCLIP_DIALOG_AUTO, see ui/dialogs.h). Session "interactive":
; OK adds the result layer. Session "cancel": the progress window's Cancel is pressed, the call
; ends as cancelled and the image is left as it was. Models from the environment.

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
(gimp-display-delete disp)  ; an image with a display cannot be deleted
(delete-all-images)
(finish)
