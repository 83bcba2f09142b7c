from pgkit.cli.main import main

raise SystemExit(main())
