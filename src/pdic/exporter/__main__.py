"""``python3 -m pdic.exporter``: how the hosts run the exporter without installing pdic.

The pdic_exporter role copies the modules the exporter needs to the host and runs them with
Debian's python3 and its python3-prometheus-client, python3-cryptography and python3-yaml.
"""

import sys

from pdic.exporter.app import main

sys.exit(main())
