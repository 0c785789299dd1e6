import sys

from mochat.cli import main

sys.exit(main())
