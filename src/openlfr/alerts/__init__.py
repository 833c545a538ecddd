"""openlfr.alerts"""
