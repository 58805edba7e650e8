"""Find a child: lookup of one partial identity and matching of a list, against the published warehouse.

Library functions for the ``svoc find`` / ``svoc match-list`` commands and the web workspace. Reads the warehouse
read-only; every search is written to the access log in the state store (``svoc.state``).
"""

from svoc.find.lists import ListMatch, match_list, read_list
from svoc.find.lookup import Candidate, Finder, FindSession, LookupResult, band_of
from svoc.find.query import Query, parse_dob

__all__ = ["Candidate", "FindSession", "Finder", "ListMatch", "LookupResult", "Query", "band_of", "match_list",
           "parse_dob", "read_list"]
