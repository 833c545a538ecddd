"""openlfr.pipeline"""
