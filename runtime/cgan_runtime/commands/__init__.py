"""The runtime's commands, `cgan-gen` and `cgan-serve`, and the plumbing every cgan-edge command shares.

Commands parse, check, call the libraries and turn their exceptions into one
line and an exit code (`errors`); they write through `output`. The libraries
never import from here; `cgan_train` and `cgan_export` build their commands
on `errors` and `output`, and start them with `launch`.
"""
