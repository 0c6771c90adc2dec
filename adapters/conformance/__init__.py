"""The conformance kit: vendors certify their integration before going live (issue 6, item 5).

``edxgw conformance agency`` runs a scripted exchange with an agency system through a gateway
(official samples and generated packages to it; receipts, statuses 01/03/06 and a recall
answer 15/16 back in time); ``edxgw conformance axis`` checks a VDXP endpoint call by call;
``edxgw conformance responder`` runs the reference agency the kit passes against. Every run
prints a pass/fail line per step (``Report``) and exits non-zero on a failure.

Modules: :mod:`~adapters.conformance.agency`, :mod:`~adapters.conformance.axis` (the
scenarios), :mod:`~adapters.conformance.responder` (the reference agency, on the SDK),
:mod:`~adapters.conformance.packages` (re-addressed samples, generated packages),
:mod:`~adapters.conformance.report`, :mod:`~adapters.conformance.errors` (``conformance.*``),
:mod:`~adapters.conformance.cli`.
"""

from adapters.conformance.agency import AgencyRun, run_agency
from adapters.conformance.axis import AxisRun, run_axis
from adapters.conformance.report import Report, Step
from adapters.conformance.responder import Behaviour, Responder

__all__ = [
    "AgencyRun",
    "AxisRun",
    "Behaviour",
    "Report",
    "Responder",
    "Step",
    "run_agency",
    "run_axis",
]
