"""The throwaway PKI of the tests lives in the library (edxml.devpki): the benchmark uses it too."""

from edxml.devpki import *  # noqa: F403
