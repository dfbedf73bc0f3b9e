from posoffice.cli import main

raise SystemExit(main())
