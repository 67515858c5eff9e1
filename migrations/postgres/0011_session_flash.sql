-- A one-time message the session's next page shows after a form
-- redirects (post/redirect/get): a new access token or activation code is
-- shown once, on the page the browser is sent to. It is sealed with a key
-- derived from the session id only the browser holds (the table keeps the
-- id's hash), and cleared by the first page that reads it.
ALTER TABLE web_sessions ADD COLUMN flash TEXT CHECK (flash IS NULL OR length(flash) <= 4096);
