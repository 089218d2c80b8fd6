-- wrk script: a realistic ~1 KB form post with a 600-byte HTML message.
local html = "<p>Hello team, I'd like to ask about <b>pricing</b> for <em>teams of 25</em>.</p>" ..
  "<ul><li>Seats: 25</li><li>Billing: yearly</li><li>Region: APAC</li></ul>" ..
  "<p>Our current tool is <a href=\"https://www.example.com/tool\">here</a>; we need SSO and an audit log.</p>" ..
  "<blockquote>Can we start a trial before the end of the month?</blockquote>" ..
  "<table><tr><td>Plan</td><td>Pro</td></tr><tr><td>Users</td><td>25</td></tr></table>" ..
  "<p>Thanks, <strong>Jo</strong><img src=\"https://cdn.example.com/sig.png\" alt=\"signature\"></p>" ..
  "<script>alert(1)</script><p onclick=\"steal()\">PS: call me any time.</p>"
local function encode(s)
  return (s:gsub("[^%w%-_%.~]", function(c) return string.format("%%%02X", string.byte(c)) end))
end
wrk.method = "POST"
wrk.headers["Content-Type"] = "application/x-www-form-urlencoded"
wrk.headers["Accept"] = "application/json"
wrk.body = "name=Jo+Smith&email=jo%40example.com&phone=%2B61+401+234+567&company=Acme+Pty+Ltd" ..
  "&subject=Pricing+for+teams&message=Hello%2C+we+are+evaluating+tools+for+a+team+of+25.+Could+you+send+pricing%3F" ..
  "&message_html=" .. encode(html)
