-- wrk script: the bench form without its HTML field, as most real forms are (~300 bytes).
wrk.method = "POST"
wrk.headers["Content-Type"] = "application/x-www-form-urlencoded"
wrk.headers["Accept"] = "application/json"
wrk.body = "name=Jo+Smith&email=jo%40example.com&phone=%2B61+401+234+567&company=Acme+Pty+Ltd" ..
  "&subject=Pricing+for+teams&message=Hello%2C+we+are+evaluating+tools+for+a+team+of+25.+Could+you+send+pricing%3F" ..
  "+We+need+SSO+and+an+audit+log%2C+and+would+like+to+start+a+trial+before+the+end+of+the+month."
