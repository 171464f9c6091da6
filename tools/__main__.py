import sys

from meteolink.tools.cli import main

sys.exit(main())
