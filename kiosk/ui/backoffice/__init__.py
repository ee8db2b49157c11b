"""The staff window for the back-office PC (``aislelens staff``): a desktop face on the catalog.

Not the kiosk's own staff mode behind the PIN (:mod:`kiosk.ui.staff`). Every action calls the
same library function as the matching ``aislelens catalog …`` command (import with its dry run,
enrol, index, eval, calibrate); the window holds no catalog logic of its own (import-linter
keeps it free of SQL) and runs all long work on one worker thread (:mod:`.jobs`).
"""
