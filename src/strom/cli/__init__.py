"""The ``strom`` command: topics, produce, consume and lag, on any log strom can open.

Commands use only the public :mod:`strom.log` API, so they behave the same on ``kafka://``
and ``local://``. The command group lives in :mod:`strom.cli.main`; each command is a module
here, registered there with ``cli.add_command``.
"""
