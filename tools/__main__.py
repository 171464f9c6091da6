import sys

from meteolink.cli import main

sys.exit(main())
