"""``python -m seg_utils.report {render,error,index}``: see :mod:`seg_utils.report.html`."""

import sys

from .html import main

sys.exit(main())
