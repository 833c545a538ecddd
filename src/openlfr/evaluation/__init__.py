"""openlfr.evaluation"""
