package server

import (
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"io/fs"
	"mime"
	"net/http"
	"path"
	"strings"

	"github.com/gofiber/fiber/v2"
)

// The workspace app (ui/) is served at /: its files as they are, and
// index.html for every other GET that is none of the server's own paths,
// so the app's routes (/e/deal/…) survive a reload. Vite names every file
// under /assets/ by a hash of its content, so those are cached for a year;
// index.html, which names them, is revalidated on every load so a new
// binary's app is picked up at once.

// reservedPrefixes never fall back to the app: a mistyped API path must
// answer a problem document, not a page.
var reservedPrefixes = []string{"/api/", "/healthz", "/readyz", "/f/"}

const (
	cacheImmutable = "public, max-age=31536000, immutable"
	cacheRevalid   = "no-cache"
)

// appFiles serves one embedded file system.
type appFiles struct {
	files     fs.FS
	index     []byte
	indexETag string
}

func newAppFiles(files fs.FS) (*appFiles, error) {
	index, err := fs.ReadFile(files, "index.html")
	if err != nil {
		return nil, err
	}
	sum := sha256.Sum256(index)
	return &appFiles{files: files, index: index, indexETag: `"` + hex.EncodeToString(sum[:8]) + `"`}, nil
}

// appRoutes registers the app after every other route (modules included).
func (s *Server) appRoutes() {
	if s.UI == nil {
		return
	}
	af, err := newAppFiles(s.UI)
	if err != nil {
		s.Log.Error("the workspace app has no index.html: not serving it", "err", err)
		return
	}
	s.app.Get("/*", af.serve)
}

func reserved(p string) bool {
	for _, r := range reservedPrefixes {
		if p == strings.TrimSuffix(r, "/") || strings.HasPrefix(p, r) {
			return true
		}
	}
	return false
}

func (a *appFiles) serve(c *fiber.Ctx) error {
	p := path.Clean("/" + c.Path())
	if reserved(p) {
		return c.Next()
	}
	name := strings.TrimPrefix(p, "/")
	if name != "" && name != "index.html" {
		b, err := fs.ReadFile(a.files, name)
		switch {
		case err == nil:
			ct := mime.TypeByExtension(path.Ext(name))
			if ct == "" {
				ct = "application/octet-stream"
			}
			c.Set(fiber.HeaderContentType, ct)
			if strings.HasPrefix(name, "assets/") {
				c.Set(fiber.HeaderCacheControl, cacheImmutable)
			} else {
				c.Set(fiber.HeaderCacheControl, cacheRevalid)
			}
			return c.Send(b)
		case !errors.Is(err, fs.ErrNotExist):
			return err
		}
		// A missing file (an old asset, a typo) is a 404, never the app:
		// a script tag given HTML fails in ways that are hard to read.
		if strings.HasPrefix(name, "assets/") || path.Ext(name) != "" {
			return c.Next()
		}
	}
	c.Set(fiber.HeaderCacheControl, cacheRevalid)
	c.Set(fiber.HeaderETag, a.indexETag)
	if c.Get(fiber.HeaderIfNoneMatch) == a.indexETag {
		return c.SendStatus(http.StatusNotModified)
	}
	c.Set(fiber.HeaderContentType, fiber.MIMETextHTMLCharsetUTF8)
	return c.Send(a.index)
}
