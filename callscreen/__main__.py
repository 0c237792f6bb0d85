from callscreen.cli import main

raise SystemExit(main())
