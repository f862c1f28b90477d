"""napstream.io"""
