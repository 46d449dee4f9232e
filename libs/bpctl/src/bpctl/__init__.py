"""bpctl: the operator command line of the booking platform."""
