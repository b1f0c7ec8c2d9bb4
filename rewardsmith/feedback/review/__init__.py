"""The local review web app for ranking videos (ICPL's human step): server.py serves static/ and a JSON API;
cli/app.py backs `rewardsmith review` and `rewardsmith rank`."""
