"""pdic's reference application: a stand-in for the e-office and the one-stop shop."""
