"""The approval inbox: a small web app where reviewers see runs waiting for approval and decide."""
