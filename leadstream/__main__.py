import sys

from leadstream.cli import main

sys.exit(main())
