"""openlfr.watchlist"""
