package main

import (
	"io"
	"net/http"
	"regexp"
	"strings"
	"testing"
	"time"
)

// TestSignIn: the embedded app loads at / under the server's CSP, refuses
// a wrong password in words, signs in and out, and a reload of an app path
// comes back to that path after sign-in.
func TestSignIn(t *testing.T) {
	needBrowser(t)
	j := startJimu(t)
	b := newBrowser(t, 1280, 860)

	start := time.Now()
	b.run(nav(j.base+"/"), visible(`[data-test=sign-in]`))
	t.Logf("sign-in page rendered in %v (navigation to visible form, measured by the test)", time.Since(start))
	// The browser's own figures, for docs/performance.md (logged, never
	// asserted: a shared machine's timing is no test).
	t.Logf("browser: %s", eval[string](b, `(() => { const n = performance.getEntriesByType('navigation')[0];
	  const fcp = performance.getEntriesByName('first-contentful-paint')[0];
	  return 'first contentful paint ' + (fcp ? fcp.startTime.toFixed(0) : '?') + ' ms, DOMContentLoaded ' + n.domContentLoadedEventEnd.toFixed(0) +
	    ' ms, load ' + n.loadEventEnd.toFixed(0) + ' ms, form visible ' + performance.now().toFixed(0) + ' ms' })()`))
	b.step("sign-in")

	b.run(typeInto(`input[name=email]`, adminEmail), typeInto(`input[name=password]`, "wrong password"),
		click(`[data-test=sign-in]`), waitText(`[data-test=signin-error]`, "Wrong e-mail or password"))
	b.step("wrong-password")

	b.run(typeInto(`input[name=password]`, adminPassword), click(`[data-test=sign-in]`),
		visible(`[data-test=sign-out]`), waitText(`h1`, "Hello"))
	b.step("home")

	b.run(click(`[data-test=sign-out]`), visible(`[data-test=sign-in]`))
	b.step("signed-out")

	// An app path loaded directly shows sign-in, then that page.
	b.run(nav(j.base+"/settings"), visible(`[data-test=sign-in]`),
		typeInto(`input[name=email]`, adminEmail), typeInto(`input[name=password]`, adminPassword),
		click(`[data-test=sign-in]`), waitText(`h1`, "Settings"))
	b.step("back-to-settings")

	// The person's own password: a wrong current one is named, then changed.
	b.run(typeInto(`[data-test=current-password]`, "not my password"), typeInto(`[data-test=new-password]`, "a new long enough password"),
		typeInto(`[data-test=repeat-password]`, "a new long enough password"), click(`[data-test=change-password]`),
		waitText(`[data-test=password-form] .field-error`, "Wrong password"))
	b.step("wrong-current-password")
	b.run(typeInto(`[data-test=current-password]`, adminPassword), typeInto(`[data-test=new-password]`, adminPassword),
		typeInto(`[data-test=repeat-password]`, adminPassword), click(`[data-test=change-password]`),
		waitText(`[data-test=password-form] .field-error`, "Must differ from the current password."))
	b.run(choose(`[data-test=language]`, "zh-CN"), typeInto(`[data-test=new-password]`, "short"), typeInto(`[data-test=repeat-password]`, "short"),
		click(`[data-test=change-password]`), waitText(`[data-test=password-form] .field-error`, "至少 10 个字符。"))
	b.step("new-password-too-short-chinese")
	b.run(choose(`[data-test=language]`, "en"), typeInto(`[data-test=new-password]`, "a new long enough password"),
		typeInto(`[data-test=repeat-password]`, "a new long enough password"))
	b.run(typeInto(`[data-test=current-password]`, adminPassword), click(`[data-test=change-password]`),
		waitText(`[data-test=password-form] [role=status]`, "Password changed"))
	b.step("password-changed")
	j.token(t, adminEmail, "a new long enough password")
}

// TestAppServing: what the server answers for the app's files, its routes
// and the paths that are never the app.
func TestAppServing(t *testing.T) {
	j := startJimu(t)
	get := func(path string) (*http.Response, string) {
		t.Helper()
		res, err := j.http.Get(j.base + path)
		if err != nil {
			t.Fatal(err)
		}
		defer res.Body.Close()
		b, _ := io.ReadAll(res.Body)
		return res, string(b)
	}
	res, body := get("/")
	if res.StatusCode != 200 || !strings.HasPrefix(res.Header.Get("Content-Type"), "text/html") ||
		res.Header.Get("Cache-Control") != "no-cache" || !strings.Contains(body, "<html") {
		t.Fatalf("/: %d %q %q", res.StatusCode, res.Header.Get("Content-Type"), res.Header.Get("Cache-Control"))
	}
	if csp := res.Header.Get("Content-Security-Policy"); !strings.Contains(csp, "script-src 'self'") || !strings.Contains(csp, "frame-ancestors 'none'") {
		t.Errorf("/ CSP: %q", csp)
	}
	if strings.Contains(body, "<script>") || strings.Contains(body, "<script type=\"module\">") {
		t.Errorf("index.html has an inline script, which the CSP refuses")
	}
	res2, body2 := get("/e/deal/123")
	if res2.StatusCode != 200 || body2 != body {
		t.Errorf("app route /e/deal/123: %d, same page %v", res2.StatusCode, body2 == body)
	}
	for _, p := range []string{"/api/v1/nothing", "/healthz/x", "/f/some-form", "/assets/missing.js", "/nothing.png"} {
		res, got := get(p)
		// /f/ answers the public forms' own small "no such form" page.
		if (res.StatusCode != 404 && res.StatusCode != 401) || got == body || (strings.Contains(got, "<html") && !strings.HasPrefix(p, "/f/")) {
			t.Errorf("%s: %d, want a 404 (or 401) that is not the app: %.80s", p, res.StatusCode, got)
		}
	}
	if res, _ := get("/healthz"); res.StatusCode != 200 {
		t.Errorf("/healthz: %d", res.StatusCode)
	}
	// Built: the hashed assets are cached for a year, with their types.
	if !strings.Contains(body, "/assets/") {
		if strings.Contains(body, "make run") {
			t.Log("the app is not built: the placeholder says how to build it")
			return
		}
		t.Fatalf("index.html names no assets: %.200s", body)
	}
	for _, m := range regexpAssets.FindAllStringSubmatch(body, -1) {
		res, _ := get(m[1])
		want := "text/javascript"
		if strings.HasSuffix(m[1], ".css") {
			want = "text/css"
		}
		if res.StatusCode != 200 || !strings.HasPrefix(res.Header.Get("Content-Type"), want) ||
			res.Header.Get("Cache-Control") != "public, max-age=31536000, immutable" {
			t.Errorf("%s: %d %q %q", m[1], res.StatusCode, res.Header.Get("Content-Type"), res.Header.Get("Cache-Control"))
		}
	}
	req, _ := http.NewRequest("GET", j.base+"/", nil)
	req.Header.Set("If-None-Match", res.Header.Get("ETag"))
	if r, err := j.http.Do(req); err != nil || r.StatusCode != http.StatusNotModified {
		t.Errorf("revalidating index.html: %v %v", r.StatusCode, err)
	}
}

var regexpAssets = regexp.MustCompile(`(?:src|href)="(/assets/[^"]+)"`)

// TestFirstStart: on an empty store Jimu prints a one-time link; the page
// it opens creates the first admin and signs them in.
func TestFirstStart(t *testing.T) {
	needBrowser(t)
	j, logs := startJimuAs(t, "", "")
	m := regexp.MustCompile(`/setup\?token=(\S+)`).FindStringSubmatch(logs.String())
	if m == nil {
		t.Fatalf("no setup link in the log:\n%s", logs.String())
	}
	b := newBrowser(t, 1280, 860)
	b.run(nav(j.base+"/setup?token="+m[1]), visible(`[data-test=setup]`))
	b.step("setup")
	b.run(typeInto(`[data-test=setup] input[autocomplete=name]`, "First Admin"), typeInto(`[data-test=setup] input[type=email]`, "first@example.com"),
		typeInto(`[data-test=setup] input[type=password]`, "short"), click(`[data-test=setup] button[type=submit]`),
		visible(`[data-test=setup] .field-error`))
	b.step("setup-refused")
	b.run(typeInto(`[data-test=setup] input[type=password]`, "a long enough password"), click(`[data-test=setup] button[type=submit]`),
		visible(`[data-test=sign-out]`), waitText(`h1`, "First Admin"), visible(`a[href="/designer"]`))
	b.step("first-admin-in")
}
