from qnnlab.cli import main

raise SystemExit(main())
