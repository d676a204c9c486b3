package forms

import (
	"context"
	"errors"
	"log/slog"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/gofiber/fiber/v2"

	"github.com/jimu-crm/jimu/engine/catalog"
	"github.com/jimu-crm/jimu/engine/identity"
	"github.com/jimu-crm/jimu/engine/problem"
	"github.com/jimu-crm/jimu/engine/records"
	"github.com/jimu-crm/jimu/engine/server"
	"github.com/jimu-crm/jimu/engine/store"
)

// PublicBodyLimit caps a public submission: a contact form is a few
// hundred bytes; a large body is refused before it is read as fields.
const PublicBodyLimit = 32 << 10

// Public serves published forms at /f/{slug} to anyone, without sign-in:
// small server-rendered pages that work without JavaScript. A submission
// runs through the whole write pipeline under the form's own identity,
// which may only create records of the form's entity.
type Public struct {
	st    store.Store
	cat   *catalog.Catalog
	rec   *records.Service
	forms *Forms
	log   *slog.Logger
	now   func() time.Time
	// PruneEvery is how often a node deletes expired counters on a
	// submission's way (0: never; tests call Prune).
	PruneEvery time.Duration

	mu     sync.Mutex
	key    []byte       // the token secret, once read
	pruned atomic.Int64 // unix seconds of the last prune
}

// NewPublic returns the public form pages.
func NewPublic(st store.Store, cat *catalog.Catalog, rec *records.Service, fs *Forms, log *slog.Logger) *Public {
	if log == nil {
		log = slog.Default()
	}
	pb := &Public{st: st, cat: cat, rec: rec, forms: fs, log: log, now: time.Now, PruneEvery: pruneEvery}
	pb.pruned.Store(time.Now().Unix())
	return pb
}

// SetClock makes the pages read time from now (tests drive the minimum
// fill time and the limits' windows with it).
func (pb *Public) SetClock(now func() time.Time) { pb.now = now }

func (pb *Public) routes(r fiber.Router) {
	r.Get("/f/_/pow.js", pb.powScript)
	r.Get("/f/:slug", pb.page)
	r.Post("/f/:slug", pb.post)
	r.Options("/f/:slug", pb.preflight)
}

func (pb *Public) powScript(c *fiber.Ctx) error {
	b, err := pageFiles.ReadFile("page/pow.js")
	if err != nil {
		return err
	}
	c.Set(fiber.HeaderContentType, "text/javascript; charset=utf-8")
	c.Set(fiber.HeaderCacheControl, "public, max-age=3600")
	return c.Send(b)
}

// webIdentity is who a public submission is made by: the form itself,
// from the submitter's address. Audit entries and events name it.
func webIdentity(f *Form, ip string) *identity.Principal {
	return &identity.Principal{UserID: f.ID, Name: "form " + f.Name, IP: ip, TokenKind: "form", TokenID: f.ID}
}

// webPolicy is the public identity's rights: create records of one
// entity, nothing else. Which fields it sets is the form's to say (the
// hook refuses the rest), and a lookup the hidden defaults set is
// checked against every record.
type webPolicy struct{ entity string }

func (w webPolicy) Allowed(_ context.Context, _ *identity.Principal, e *catalog.Entity, op string) bool {
	return op == records.OpCreate && e.Name == w.entity
}
func (w webPolicy) Permits(ctx context.Context, p *identity.Principal, e *catalog.Entity, op string) bool {
	return w.Allowed(ctx, p, e, op)
}
func (webPolicy) Scope(context.Context, *identity.Principal, *catalog.Entity, string) (*store.Cond, error) {
	return nil, nil
}
func (webPolicy) Field(*identity.Principal, *catalog.Entity, string) (bool, bool) {
	return false, false
}
func (webPolicy) CanAssignOwner(*identity.Principal, *catalog.Entity) bool { return true }

var _ records.Policy = webPolicy{}

var noAccess fieldAccess = func(string) (bool, bool) { return false, false }

// published returns the form at a slug with its entity.
func (pb *Public) published(ctx context.Context, slug string) (*Form, *catalog.Entity, error) {
	f, err := pb.forms.BySlug(ctx, slug)
	if err != nil {
		return nil, nil, err
	}
	if f.Publish == nil || f.Publish.Slug != slug {
		return nil, nil, problem.NotFound("no form is published at %s", slug)
	}
	e, err := pb.cat.Get(f.Entity)
	if err != nil {
		return nil, nil, problem.NotFound("no form is published at %s", slug)
	}
	return f, e, nil
}

// wantsJSON: a client that sends or accepts JSON gets JSON; a browser
// gets the page.
func wantsJSON(c *fiber.Ctx) bool {
	if strings.Contains(c.Get(fiber.HeaderContentType), "json") {
		return true
	}
	accept := c.Get(fiber.HeaderAccept)
	return strings.Contains(accept, "application/json") && !strings.Contains(accept, "text/html")
}

// headers sets the page's own security policy: framed only by the
// allowed origins, posting to Jimu and to the redirect's origin; and, for
// a script on an allowed origin, CORS.
func (pb *Public) headers(c *fiber.Ctx, pub *Publication) {
	var formAction []string
	if u, err := url.Parse(pub.RedirectURL); err == nil && pub.RedirectURL != "" {
		formAction = append(formAction, u.Scheme+"://"+u.Host)
	}
	server.EmbedPolicy(c, pub.AllowedOrigins, formAction)
	if o := c.Get(fiber.HeaderOrigin); o != "" && contains(pub.AllowedOrigins, o) {
		c.Set(fiber.HeaderAccessControlAllowOrigin, o)
		c.Set(fiber.HeaderVary, "Origin")
	}
}

func (pb *Public) preflight(c *fiber.Ctx) error {
	f, _, err := pb.published(c.UserContext(), c.Params("slug"))
	if err != nil {
		return c.SendStatus(http.StatusNotFound)
	}
	pb.headers(c, f.Publish)
	if c.Get(fiber.HeaderAccessControlAllowOrigin) != "" {
		c.Set(fiber.HeaderAccessControlAllowMethods, "GET, POST")
		c.Set(fiber.HeaderAccessControlAllowHeaders, "Content-Type")
		c.Set(fiber.HeaderAccessControlMaxAge, "600")
	}
	return c.SendStatus(http.StatusNoContent)
}

// initial is the state of a new public submission before anything was
// typed: the hidden defaults and the form's defaults filled.
func (pb *Public) initial(f *Form, e *catalog.Entity, ip string, values map[string]any) (*state, map[string]any) {
	p := webIdentity(f, ip)
	now := pb.now().UTC()
	r := &store.Record{Version: 1, CreatedAt: now, UpdatedAt: now, CreatedBy: p.UserID, Data: map[string]any{}}
	c := pb.forms.compiled(f)
	_ = hiddenDefaults(e, f.Publish, r)
	for k, v := range values {
		if def := e.Field(k); def != nil {
			r.Data[k] = v
		}
	}
	defaults := entityDefaults(e, p, r, values)
	_ = formDefaults(c, e, p, r, values)
	for _, ru := range c.fields {
		if _, sent := values[ru.Field]; !sent && r.Data[ru.Field] != nil {
			defaults[ru.Field] = r.Data[ru.Field]
		}
	}
	return evaluate(c, e, noAccess, records.Env(e, p, r)), defaults
}

// page: GET /f/{slug} — the form, or for a JSON client its token and
// challenge.
func (pb *Public) page(c *fiber.Ctx) error {
	ctx := c.UserContext()
	locale := pageLocale(c.Query("lang"), c.Get(fiber.HeaderAcceptLanguage))
	f, e, err := pb.published(ctx, c.Params("slug"))
	if err != nil {
		return pb.refuse(c, locale, nil, err)
	}
	pb.headers(c, f.Publish)
	tok, ch, err := pb.issue(ctx, f, f.Publish)
	if err != nil {
		return err
	}
	st, defaults := pb.initial(f, e, c.IP(), nil)
	if wantsJSON(c) {
		out := fiber.Map{"token": tok, "fields": st.evaluation()}
		if ch != nil {
			out["challenge"] = ch
		}
		return c.JSON(out)
	}
	return pb.show(c, http.StatusOK, f, e, st, locale, tok, ch, defaults, nil, nil, "")
}

// show renders the form page.
func (pb *Public) show(c *fiber.Ctx, status int, f *Form, e *catalog.Entity, st *state, locale, tok string, ch *challenge,
	values map[string]any, echo map[string][]string, errs map[string]string, alert string) error {
	d := &pageData{Lang: locale, Title: textOr(f.Label, e.Label, f.Name, locale), Description: f.Description.In(locale),
		Submit: textOr(f.SubmitLabel, nil, say(locale, "submit"), locale), Action: "/f/" + f.Publish.Slug, Token: tok,
		Alert: alert, T: messages[locale]}
	d.Sections = pageFields(f, e, st, locale, values, echo, errs)
	if ch != nil {
		pc := &pageChallenge{Nonce: ch.Nonce, Bits: ch.Bits, NoScript: say(locale, "pow_noscript"), Wait: say(locale, "pow_wait"),
			Question: ch.Question, Error: errs[fieldAnswer]}
		if ch.Question != "" {
			pc.Label = strings.Replace(say(locale, "challenge"), "%s", ch.Question, 1)
		}
		d.Challenge = pc
	}
	return pb.send(c, status, d)
}

func (pb *Public) send(c *fiber.Ctx, status int, d *pageData) error {
	b, err := render("page", d)
	if err != nil {
		return err
	}
	c.Set(fiber.HeaderContentType, "text/html; charset=utf-8")
	c.Set(fiber.HeaderContentLanguage, d.Lang)
	return c.Status(status).Send(b)
}

// refuse answers a request that stops before the form: not found, too
// large, too many. JSON clients get the problem document.
func (pb *Public) refuse(c *fiber.Ctx, locale string, f *Form, err error) error {
	var pe *problem.Error
	if wantsJSON(c) || !errors.As(err, &pe) {
		return err
	}
	key := "not_found"
	msg := ""
	switch pe.Status {
	case http.StatusRequestEntityTooLarge:
		key = "too_big"
	case http.StatusTooManyRequests:
		key = "too_many"
		c.Set(fiber.HeaderRetryAfter, strconv.Itoa(pe.RetryAfter))
		msg = strings.Replace(say(locale, key), "%d", strconv.Itoa(pe.RetryAfter), 1)
	case http.StatusConflict:
		key = "pending"
	}
	if msg == "" {
		msg = say(locale, key)
	}
	title := msg
	if f != nil {
		title = textOr(f.Label, nil, f.Name, locale)
	}
	return pb.send(c, pe.Status, &pageData{Lang: locale, Title: title, Alert: msg, Notice: true, T: messages[locale], Action: c.Path()})
}
