package forms_test

import (
	"crypto/sha256"
	"math/bits"
	"net/http"
	"net/url"
	"regexp"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/jimu-crm/jimu/engine/server/servertest"
	"github.com/jimu-crm/jimu/forms"
)

// leadEntity and webLead are the README's web-to-lead example.
func leadEntity(e *servertest.Env) {
	e.Do("POST", "/api/v1/meta/entities", map[string]any{"name": "lead", "label": map[string]any{"en": "Lead", "zh-CN": "线索"}, "ownership": true,
		"fields": []any{
			map[string]any{"name": "name", "type": "text", "required": true, "label": map[string]any{"en": "Name", "zh-CN": "姓名"}},
			map[string]any{"name": "email", "type": "email", "required": true, "label": map[string]any{"en": "E-mail", "zh-CN": "邮箱"}},
			map[string]any{"name": "company", "type": "text", "label": map[string]any{"en": "Company", "zh-CN": "公司"}},
			map[string]any{"name": "phone", "type": "phone"},
			map[string]any{"name": "interest", "type": "select", "options": []any{map[string]any{"value": "crm", "label": "CRM"}, map[string]any{"value": "erp", "label": "ERP"}}},
			map[string]any{"name": "budget", "type": "currency"},
			map[string]any{"name": "message", "type": "long_text"},
			map[string]any{"name": "newsletter", "type": "boolean"},
			map[string]any{"name": "source", "type": "text"},
			map[string]any{"name": "account", "type": "lookup", "target": "lead"},
		}}, 201, nil)
}

func webLead(name string) map[string]any {
	return map[string]any{"name": name, "entity": "lead", "label": map[string]any{"en": "Contact us", "zh-CN": "联系我们"},
		"sections": []any{map[string]any{"columns": 2, "fields": []any{
			map[string]any{"field": "name", "required": true},
			map[string]any{"field": "email", "required": true, "help_text": map[string]any{"en": "We reply within a day", "zh-CN": "我们一天内回复"}},
			map[string]any{"field": "company"},
			map[string]any{"field": "interest"},
			map[string]any{"field": "budget", "show_when": `interest == "erp"`},
			map[string]any{"field": "message"},
			map[string]any{"field": "newsletter"},
		}}}}
}

// clock is the public pages' time, moved by the test.
type clock struct{ ns atomic.Int64 }

func (c *clock) now() time.Time          { return time.Unix(0, c.ns.Load()) }
func (c *clock) advance(d time.Duration) { c.ns.Add(int64(d)) }

var tokenRE = regexp.MustCompile(`name="_t" value="([^"]+)"`)

func tokenOf(t *testing.T, page []byte) string {
	t.Helper()
	m := tokenRE.FindSubmatch(page)
	if m == nil {
		t.Fatalf("no token in the page: %s", page)
	}
	return string(m[1])
}

// visitor is someone without an account.
func visitor(e *servertest.Env) *servertest.Env {
	v := *e
	v.Token = ""
	return &v
}

func postForm(v *servertest.Env, path string, vals url.Values, headers ...string) *servertest.Response {
	v.T.Helper()
	return v.Raw("POST", path, vals.Encode(), append([]string{"Content-Type", "application/x-www-form-urlencoded"}, headers...)...)
}

func leads(t *testing.T, e *servertest.Env) []map[string]any {
	t.Helper()
	var out struct{ Items []map[string]any }
	e.Do("GET", "/api/v1/records/lead?limit=500", nil, 200, &out)
	return out.Items
}

// TestPublicForm: a published form is a small page anyone may fill in,
// in their language, without JavaScript; a submission goes through the
// whole write pipeline under the form's own identity, is audited with the
// submitter's address and emits the usual create event; every kind of bad
// submission is refused with a readable message and saves nothing.
func TestPublicForm(t *testing.T) {
	for name, open := range stores {
		t.Run(name, func(t *testing.T) {
			admin, m := startModule(t, open(t))
			clk := &clock{}
			clk.ns.Store(time.Now().UnixNano())
			m.Public.SetClock(clk.now)
			leadEntity(admin)
			var me struct{ ID string }
			admin.Do("GET", "/api/v1/auth/me", nil, 200, &me)
			f := createForm(t, admin, webLead("web_lead"))
			publish := map[string]any{"slug": "contact-us", "defaults": map[string]any{"source": "web", "owner": me.ID},
				"success_message": map[string]any{"en": "Thanks!", "zh-CN": "感谢提交"}, "allowed_origins": []string{"https://www.example.com"},
				"limits": map[string]any{"per_ip": 1000}} // TestPublicAbuse tests the limits
			admin.Do("POST", "/api/v1/meta/forms/"+f.ID+"/publish", publish, 200, nil)

			// What a publication names is checked.
			other := createForm(t, admin, webLead("other"))
			for _, c := range []struct {
				body       map[string]any
				path, code string
			}{
				{map[string]any{"slug": "contact-us"}, "slug", "taken"},
				{map[string]any{"slug": "Contact Us"}, "slug", "pattern"},
				{map[string]any{"slug": "x", "defaults": map[string]any{"email": "a@b.example"}}, "defaults.email", "on_form"},
				{map[string]any{"slug": "x", "defaults": map[string]any{"colour": "red"}}, "defaults.colour", "unknown_field"},
				{map[string]any{"slug": "x", "defaults": map[string]any{"owner": "01a2312a-5858-7064-972c-3110d239b4a1"}}, "defaults.owner", "unknown_user"},
				{map[string]any{"slug": "x", "allowed_origins": []string{"https://a.example; script-src *"}}, "allowed_origins.0", "invalid"},
				{map[string]any{"slug": "x", "redirect_url": "javascript:alert(1)"}, "redirect_url", "invalid"},
				{map[string]any{"slug": "x", "challenge": "captcha"}, "challenge", "enum"},
			} {
				r := admin.Raw("POST", "/api/v1/meta/forms/"+other.ID+"/publish", c.body)
				if r.Status != 422 || servertest.ProblemFields(t, r)[c.path] != c.code {
					t.Errorf("publishing %v: %d %s", c.body, r.Status, r.Body)
				}
			}
			noEmail := webLead("no_email")
			noEmail["sections"].([]any)[0].(map[string]any)["fields"] = []any{map[string]any{"field": "name"}}
			ne := createForm(t, admin, noEmail)
			r0 := admin.Raw("POST", "/api/v1/meta/forms/"+ne.ID+"/publish", map[string]any{"slug": "no-email"})
			if r0.Status != 422 || servertest.ProblemFields(t, r0)["defaults.email"] != "required" {
				t.Errorf("publishing without a required field: %d %s", r0.Status, r0.Body)
			}
			withLookup := webLead("with_lookup")
			withLookup["sections"].([]any)[0].(map[string]any)["fields"] = append(withLookup["sections"].([]any)[0].(map[string]any)["fields"].([]any),
				map[string]any{"field": "account"})
			wl := createForm(t, admin, withLookup)
			r := admin.Raw("POST", "/api/v1/meta/forms/"+wl.ID+"/publish", map[string]any{"slug": "lookup"})
			if r.Status != 422 || servertest.ProblemFields(t, r)["sections.0.fields.7.field"] != "not_public" {
				t.Errorf("publishing a lookup field: %d %s", r.Status, r.Body)
			}

			v := visitor(admin)
			page := v.Raw("GET", "/f/contact-us", nil)
			if page.Status != 200 || !strings.HasPrefix(page.Header.Get("Content-Type"), "text/html") || len(page.Body) > 50<<10 {
				t.Fatalf("the page: %d %s, %d bytes", page.Status, page.Header.Get("Content-Type"), len(page.Body))
			}
			body := string(page.Body)
			for _, want := range []string{`name="email"`, `type="email"`, "Contact us", "We reply within a day", `name="_website"`, `lang="en"`} {
				if !strings.Contains(body, want) {
					t.Errorf("the page lacks %s", want)
				}
			}
			if strings.Contains(body, `name="budget"`) || strings.Contains(body, "<script") {
				t.Errorf("the page shows a hidden field or a script: %s", body)
			}
			csp := page.Header.Get("Content-Security-Policy")
			if !strings.Contains(csp, "frame-ancestors https://www.example.com") || page.Header.Get("X-Frame-Options") != "" ||
				!strings.Contains(csp, "script-src 'self'") {
				t.Errorf("the page's policy: %q, X-Frame-Options %q", csp, page.Header.Get("X-Frame-Options"))
			}
			zh := v.Raw("GET", "/f/contact-us", nil, "Accept-Language", "zh-CN,zh;q=0.9,en;q=0.5")
			if zh.Header.Get("Content-Language") != "zh-CN" || !strings.Contains(string(zh.Body), "联系我们") || !strings.Contains(string(zh.Body), "提交") {
				t.Errorf("the page in Chinese: %s", zh.Body)
			}

			tok := tokenOf(t, page.Body)
			good := url.Values{"_t": {tok}, "name": {"Ada Lovelace"}, "email": {"Ada@Example.com"}, "company": {"Analytical"},
				"interest": {"crm"}, "newsletter": {"true"}, "_website": {""}}
			// Sent at once: quicker than a person.
			r = postForm(v, "/f/contact-us", good)
			if r.Status != 422 || !strings.Contains(string(r.Body), "quicker than a person") || len(leads(t, admin)) != 0 {
				t.Fatalf("a submission sent at once: %d %s", r.Status, r.Body)
			}
			clk.advance(5 * time.Second)
			r = postForm(v, "/f/contact-us", good, "Origin", "https://www.example.com")
			if r.Status != 201 || !strings.Contains(string(r.Body), "Thanks!") {
				t.Fatalf("a good submission: %d %s", r.Status, r.Body)
			}
			if r.Header.Get("Access-Control-Allow-Origin") != "https://www.example.com" {
				t.Errorf("CORS for an allowed origin: %v", r.Header)
			}
			ls := leads(t, admin)
			if len(ls) != 1 {
				t.Fatalf("leads after a submission: %v", ls)
			}
			lead := ls[0]
			if lead["source"] != "web" || lead["owner"] != me.ID || lead["created_by"] != f.ID || lead["email"] != "ada@example.com" || lead["newsletter"] != true {
				t.Fatalf("the lead: %v", lead)
			}
			var audit struct {
				Items []struct{ Action, Actor, IP string }
			}
			admin.Do("GET", "/api/v1/audit?entity=lead&record_id="+lead["id"].(string), nil, 200, &audit)
			if len(audit.Items) != 1 || audit.Items[0].Action != "record.create" || audit.Items[0].Actor != f.ID || audit.Items[0].IP != "127.0.0.1" {
				t.Fatalf("the lead's audit: %+v", audit.Items)
			}
			created := 0
			for _, ev := range allEvents(t, admin) {
				if ev.Type == "record.created" && ev.Entity == "lead" && ev.RecordID == lead["id"] && ev.Actor == f.ID && ev.Record["source"] == "web" {
					created++
				}
			}
			if created != 1 {
				t.Fatalf("record.created events of the lead: %d", created)
			}

			// The same values again within a minute: answered once.
			again := postForm(v, "/f/contact-us", good)
			if again.Status != 200 || !strings.Contains(string(again.Body), "Thanks!") || len(leads(t, admin)) != 1 {
				t.Fatalf("a duplicate submission: %d %s", again.Status, again.Body)
			}
			// The same page with other values: its token was used.
			used := url.Values{"_t": {tok}, "name": {"Charles"}, "email": {"c@example.com"}}
			r = postForm(v, "/f/contact-us", used)
			if r.Status != 422 || !strings.Contains(string(r.Body), "sent already") {
				t.Fatalf("a used token: %d %s", r.Status, r.Body)
			}

			// Refusals, each saving nothing.
			fresh := func() string {
				t.Helper()
				p := v.Raw("GET", "/f/contact-us", nil)
				clk.advance(5 * time.Second)
				return tokenOf(t, p.Body)
			}
			for _, c := range []struct {
				name   string
				vals   url.Values
				status int
				want   string
			}{
				{"missing e-mail", url.Values{"name": {"Grace"}}, 422, `id="e_email"`},
				{"honeypot", url.Values{"name": {"Bot"}, "email": {"bot@example.com"}, "_website": {"http://spam.example"}}, 422, "looks automated"},
				{"script", url.Values{"name": {`"><script>alert(1)</script>`}, "email": {"x@example.com"}}, 422, "leave out HTML"},
				{"hidden field", url.Values{"name": {"A"}, "email": {"a@example.com"}, "interest": {"crm"}, "budget": {"100"}}, 422, "not asked for"},
				{"field not on the form", url.Values{"name": {"A"}, "email": {"a@example.com"}, "phone": {"13800138000"}}, 422, "no such field"},
				{"hidden default", url.Values{"name": {"A"}, "email": {"a@example.com"}, "source": {"forged"}}, 422, "no such field"},
				{"system field", url.Values{"name": {"A"}, "email": {"a@example.com"}, "created_by": {"x"}}, 422, "cannot be changed"},
				{"owner", url.Values{"name": {"A"}, "email": {"a@example.com"}, "owner": {me.ID}}, 422, "no such field"},
				{"unknown field", url.Values{"name": {"A"}, "email": {"a@example.com"}, "colour": {"red"}}, 422, "no such field"},
				{"unknown control", url.Values{"name": {"A"}, "email": {"a@example.com"}, "_admin": {"1"}}, 422, "_admin"},
				{"repeated field", url.Values{"name": {"A", "B"}, "email": {"a@example.com"}}, 422, "more than once"},
				{"bad option", url.Values{"name": {"A"}, "email": {"a@example.com"}, "interest": {"crypto"}}, 422, "choose one of the options"},
				{"bad e-mail", url.Values{"name": {"A"}, "email": {"not an address"}}, 422, "expected format"},
			} {
				c.vals.Set("_t", fresh())
				r := postForm(v, "/f/contact-us", c.vals)
				if r.Status != c.status || !strings.Contains(string(r.Body), c.want) {
					t.Errorf("%s: %d %s", c.name, r.Status, r.Body)
				}
				if strings.Contains(string(r.Body), "<script>alert") {
					t.Errorf("%s: a value came back unescaped", c.name)
				}
				if n := len(leads(t, admin)); n != 1 {
					t.Fatalf("%s: %d leads", c.name, n)
				}
			}
			// A refused page keeps what was typed and says, next to the
			// field, in the visitor's language, what is wrong.
			r = postForm(v, "/f/contact-us", url.Values{"_t": {fresh()}, "name": {"Grace Hopper"}}, "Accept-Language", "zh-CN")
			if r.Status != 422 || !strings.Contains(string(r.Body), `value="Grace Hopper"`) || !strings.Contains(string(r.Body), "此项为必填项") ||
				!strings.Contains(string(r.Body), `aria-describedby="e_email h_email"`) {
				t.Fatalf("a refused page in Chinese: %s", r.Body)
			}
			// Forged tokens.
			forged := []byte(tok)
			forged[3] ^= 1
			for _, bad := range []string{"", "x.y", string(forged), tokenOf(t, v.Raw("GET", "/f/contact-us", nil).Body) + "x"} {
				clk.advance(5 * time.Second)
				r := v.Raw("POST", "/f/contact-us", map[string]any{"_t": bad, "name": "A", "email": "a@example.com"})
				if r.Status != 422 || servertest.ProblemFields(t, r)["_t"] != "token" {
					t.Errorf("token %q: %d %s", bad, r.Status, r.Body)
				}
			}
			// A token expires.
			old := fresh()
			clk.advance(25 * time.Hour)
			r = v.Raw("POST", "/f/contact-us", map[string]any{"_t": old, "name": "A", "email": "a@example.com"})
			if r.Status != 422 || servertest.ProblemFields(t, r)["_t"] != "token" {
				t.Errorf("an expired token: %d %s", r.Status, r.Body)
			}
			// Too large.
			big := url.Values{"_t": {fresh()}, "name": {"A"}, "email": {"a@example.com"}, "message": {strings.Repeat("x", forms.PublicBodyLimit)}}
			if r := postForm(v, "/f/contact-us", big); r.Status != 413 {
				t.Errorf("an oversized body: %d %s", r.Status, r.Body)
			}
			if n := len(leads(t, admin)); n != 1 {
				t.Fatalf("after the refusals: %d leads", n)
			}

			// JSON: the token from the page's JSON, the record's id back.
			var info struct {
				Token  string
				Fields struct{ Visible []string }
			}
			v.Do("GET", "/f/contact-us", nil, 200, &info, "Accept", "application/json")
			clk.advance(5 * time.Second)
			var ok struct{ ID, Message string }
			v.Do("POST", "/f/contact-us", map[string]any{"_t": info.Token, "name": "Linus", "email": "linus@example.com", "interest": "erp", "budget": 5000},
				201, &ok, "Accept-Language", "zh-CN")
			if ok.ID == "" || ok.Message != "感谢提交" {
				t.Fatalf("a JSON submission: %+v", ok)
			}

			// A plain HTML form on another site has no token: its post
			// comes back filled in, to be sent once more.
			r = postForm(v, "/f/contact-us", url.Values{"name": {"Plain"}, "email": {"plain@example.com"}, "_website": {""}})
			if r.Status != 422 || !strings.Contains(string(r.Body), `value="plain@example.com"`) || !strings.Contains(string(r.Body), "send the form again") {
				t.Fatalf("a post without a token: %d %s", r.Status, r.Body)
			}
			if r := postForm(v, "/f/contact-us", url.Values{"email": {"plain@example.com"}}); !strings.Contains(string(r.Body), `id="e_name"`) {
				t.Fatalf("a post without a token and without a required field: %s", r.Body)
			}
			clk.advance(5 * time.Second)
			r = postForm(v, "/f/contact-us", url.Values{"_t": {tokenOf(t, r.Body)}, "name": {"Plain"}, "email": {"plain@example.com"}})
			if r.Status != 201 {
				t.Fatalf("the confirmed post: %d %s", r.Status, r.Body)
			}
			var embed struct{ URL, IFrame, HTML string }
			admin.Do("GET", "/api/v1/meta/forms/"+f.ID+"/embed", nil, 200, &embed)
			if !strings.HasSuffix(embed.URL, "/f/contact-us") || !strings.Contains(embed.IFrame, `src="`+embed.URL+`"`) ||
				!strings.Contains(embed.HTML, `action="`+embed.URL+`"`) || !strings.Contains(embed.HTML, `name="email"`) || !strings.Contains(embed.HTML, `name="_website"`) {
				t.Fatalf("the embed snippets: %+v", embed)
			}
			if n := len(leads(t, admin)); n != 3 {
				t.Fatalf("leads: %d", n)
			}

			// Taken down: the page is gone, the slug free.
			admin.Do("DELETE", "/api/v1/meta/forms/"+f.ID+"/publish", nil, 200, nil)
			if r := v.Raw("GET", "/f/contact-us", nil); r.Status != 404 || !strings.Contains(string(r.Body), "no longer published") {
				t.Fatalf("an unpublished page: %d %s", r.Status, r.Body)
			}
			admin.Do("POST", "/api/v1/meta/forms/"+other.ID+"/publish", map[string]any{"slug": "contact-us"}, 200, nil)

			// Expired counters, claims and tokens are pruned.
			clk.advance(48 * time.Hour)
			if n, err := m.Public.Prune(t.Context()); err != nil || n == 0 {
				t.Fatalf("prune: %d %v", n, err)
			}
			if n, err := m.Public.Prune(t.Context()); err != nil || n != 0 {
				t.Fatalf("a second prune: %d %v", n, err)
			}
		})
	}
}

// TestPublicAbuse: the limits per address and per form answer 429 with
// Retry-After until their window ends, the arithmetic and proof-of-work
// challenges hold, and a redirect replaces the message.
func TestPublicAbuse(t *testing.T) {
	for name, open := range stores {
		t.Run(name, func(t *testing.T) {
			admin, m := startModule(t, open(t))
			clk := &clock{}
			clk.ns.Store(time.Date(2026, 12, 1, 10, 0, 0, 0, time.UTC).UnixNano())
			m.Public.SetClock(clk.now)
			leadEntity(admin)
			v := visitor(admin)
			send := func(slug string, vals map[string]any) *servertest.Response {
				t.Helper()
				var info struct{ Token string }
				v.Do("GET", "/f/"+slug, nil, 200, &info, "Accept", "application/json")
				clk.advance(4 * time.Second)
				vals["_t"] = info.Token
				return v.Raw("POST", "/f/"+slug, vals)
			}
			a := createForm(t, admin, webLead("per_ip"))
			admin.Do("POST", "/api/v1/meta/forms/"+a.ID+"/publish", map[string]any{"slug": "per-ip", "limits": map[string]any{"per_ip": 3, "window_seconds": 60}}, 200, nil)
			for i := range 3 {
				if r := send("per-ip", map[string]any{"name": "N", "email": "n" + strconv.Itoa(i) + "@example.com"}); r.Status != 201 {
					t.Fatalf("submission %d: %d %s", i, r.Status, r.Body)
				}
			}
			r := send("per-ip", map[string]any{"name": "N", "email": "n9@example.com"})
			if r.Status != 429 || r.Header.Get("Retry-After") == "" {
				t.Fatalf("the fourth from one address: %d %v %s", r.Status, r.Header, r.Body)
			}
			wait, _ := strconv.Atoi(r.Header.Get("Retry-After"))
			if wait < 1 || wait > 60 {
				t.Fatalf("Retry-After %d", wait)
			}
			// A person sees it on a page.
			p := postForm(v, "/f/per-ip", url.Values{"name": {"N"}})
			if p.Status != 429 || !strings.Contains(string(p.Body), "try again in") {
				t.Fatalf("the page of a refused flood: %d %s", p.Status, p.Body)
			}
			clk.advance(time.Duration(wait) * time.Second)
			if r := send("per-ip", map[string]any{"name": "N", "email": "n10@example.com"}); r.Status != 201 {
				t.Fatalf("after the window: %d %s", r.Status, r.Body)
			}

			b := createForm(t, admin, webLead("per_form"))
			admin.Do("POST", "/api/v1/meta/forms/"+b.ID+"/publish", map[string]any{"slug": "per-form", "limits": map[string]any{"per_form": 2, "window_seconds": 600}}, 200, nil)
			clk.advance(600 * time.Second)
			send("per-form", map[string]any{"name": "N", "email": "f1@example.com"})
			send("per-form", map[string]any{"name": "N", "email": "f2@example.com"})
			r = send("per-form", map[string]any{"name": "N", "email": "f3@example.com"})
			if r.Status != 429 || !strings.Contains(string(r.Body), "this form is receiving too many") {
				t.Fatalf("past the form's limit: %d %s", r.Status, r.Body)
			}

			c := createForm(t, admin, webLead("arith"))
			admin.Do("POST", "/api/v1/meta/forms/"+c.ID+"/publish", map[string]any{"slug": "arith", "challenge": "arithmetic"}, 200, nil)
			question := regexp.MustCompile(`what is (\d+) (?:\+|&#43;) (\d+)\?`)
			ask := func() (string, int) {
				page := v.Raw("GET", "/f/arith", nil)
				q := question.FindSubmatch(page.Body)
				if q == nil {
					t.Fatalf("no question on the page: %s", page.Body)
				}
				x, _ := strconv.Atoi(string(q[1]))
				y, _ := strconv.Atoi(string(q[2]))
				clk.advance(4 * time.Second)
				return tokenOf(t, page.Body), x + y
			}
			tok, sum := ask()
			r = postForm(v, "/f/arith", url.Values{"_t": {tok}, "name": {"A"}, "email": {"a@example.com"}, "_answer": {strconv.Itoa(sum + 1)}})
			if r.Status != 422 || !strings.Contains(string(r.Body), `id="e__answer"`) {
				t.Fatalf("a wrong answer: %d %s", r.Status, r.Body)
			}
			tok, sum = ask()
			if r := postForm(v, "/f/arith", url.Values{"_t": {tok}, "name": {"A"}, "email": {"a@example.com"}, "_answer": {strconv.Itoa(sum)}}); r.Status != 201 {
				t.Fatalf("the right answer: %d %s", r.Status, r.Body)
			}

			d := createForm(t, admin, webLead("pow"))
			admin.Do("POST", "/api/v1/meta/forms/"+d.ID+"/publish", map[string]any{"slug": "pow", "challenge": "proof_of_work",
				"redirect_url": "https://www.example.com/thanks"}, 200, nil)
			page := v.Raw("GET", "/f/pow", nil)
			if !strings.Contains(string(page.Body), `<script src="/f/_/pow.js" defer></script>`) || !strings.Contains(string(page.Body), "<noscript>") {
				t.Fatalf("the proof-of-work page: %s", page.Body)
			}
			if csp := page.Header.Get("Content-Security-Policy"); !strings.Contains(csp, "form-action 'self' https://www.example.com") ||
				!strings.Contains(csp, "frame-ancestors 'none'") || page.Header.Get("X-Frame-Options") != "DENY" {
				t.Fatalf("the policy of a page that redirects: %q", csp)
			}
			if js := v.Raw("GET", "/f/_/pow.js", nil); js.Status != 200 || !strings.Contains(js.Header.Get("Content-Type"), "javascript") {
				t.Fatalf("the script: %d %v", js.Status, js.Header)
			}
			var info struct {
				Token     string
				Challenge struct {
					Kind, Nonce string
					Bits        int
				}
			}
			v.Do("GET", "/f/pow", nil, 200, &info, "Accept", "application/json")
			clk.advance(4 * time.Second)
			r = v.Raw("POST", "/f/pow", map[string]any{"_t": info.Token, "name": "A", "email": "a@example.com", "_pow": "1"})
			if r.Status != 422 || servertest.ProblemFields(t, r)["_answer"] != "challenge" {
				t.Fatalf("no work done: %d %s", r.Status, r.Body)
			}
			work := solve(info.Challenge.Nonce, info.Challenge.Bits)
			noFollow := *v
			noFollow.Client = &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
			r = postForm(&noFollow, "/f/pow", url.Values{"_t": {info.Token}, "name": {"A"}, "email": {"a@example.com"}, "_pow": {work}})
			if r.Status != 303 || r.Header.Get("Location") != "https://www.example.com/thanks" {
				t.Fatalf("the work done: %d %v %s", r.Status, r.Header, r.Body)
			}
		})
	}
}

// solve does the proof of work as the page's script does.
func solve(nonce string, want int) string {
	for i := 0; ; i++ {
		sum := sha256.Sum256([]byte(nonce + ":" + strconv.Itoa(i)))
		n := 0
		for _, b := range sum {
			if b != 0 {
				n += bits.LeadingZeros8(b)
				break
			}
			n += 8
		}
		if n >= want {
			return strconv.Itoa(i)
		}
	}
}
