import sys

from streamer import early_stop

early_stop.install()  # a stop asked for while the show loads is kept, not a kill
from streamer.cli import main  # noqa: E402

sys.exit(main())
