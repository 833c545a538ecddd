"""openlfr.vision"""
