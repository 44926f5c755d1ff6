from optout_daemon.cli import main

raise SystemExit(main())
