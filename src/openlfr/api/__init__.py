"""openlfr.api"""
