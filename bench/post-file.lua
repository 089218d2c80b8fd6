-- wrk script: a support form with a 200 KB image attached (multipart/form-data), the post
-- docs/files.md describes. The image's first bytes are a PNG header, so the relay's content
-- check finds image/png.
local boundary = "----talkrelaybench7MA4YWxkTrZu0gW"
local png = "\137PNG\r\n\26\n\0\0\0\rIHDR\0\0\1\0\0\0\1\0\8\6\0\0\0" .. string.rep("\23\42\7\99", 200 * 256)
local function part(name, value)
  return "--" .. boundary .. "\r\nContent-Disposition: form-data; name=\"" .. name .. "\"\r\n\r\n" .. value .. "\r\n"
end
wrk.method = "POST"
wrk.headers["Content-Type"] = "multipart/form-data; boundary=" .. boundary
wrk.headers["Accept"] = "application/json"
wrk.body = part("name", "Jo Smith") .. part("email", "jo@example.com") ..
  part("message", "Hello, the export button does nothing; a screenshot is attached.") ..
  "--" .. boundary .. "\r\nContent-Disposition: form-data; name=\"screenshot\"; filename=\"shot.png\"\r\n" ..
  "Content-Type: image/png\r\n\r\n" .. png .. "\r\n--" .. boundary .. "--\r\n"
