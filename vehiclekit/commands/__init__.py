"""The ``vehiclekit`` commands, one module each (``vehiclekit.cli.COMMANDS`` lists them): ``add_arguments(parser)``
defines its options (and subcommands), ``run(args)`` runs it and returns the exit status.

They use the SDK, video, apps and serving rooms, never training (embedded installs have no torch);
:mod:`vehiclekit.commands.common` holds what several of them share.
"""
