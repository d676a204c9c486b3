package main

import (
	"testing"
	"time"

	"github.com/pquerna/otp/totp"
)

// TestSecondFactor: a sign-in asks for the authenticator code when TOTP is
// on, and a role that requires a second factor sends its users to set one
// up before anything else.
func TestSecondFactor(t *testing.T) {
	needBrowser(t)
	j := startJimu(t)
	admin := j.token(t, adminEmail, adminPassword)
	// TOTP for the admin, through the API: set up, then enable with the
	// code of the previous time step (each step's code works once).
	secret := j.call(t, admin, "POST", "/api/v1/auth/totp/setup", nil, 200)["secret"].(string)
	prev, err := totp.GenerateCode(secret, time.Now().Add(-30*time.Second))
	if err != nil {
		t.Fatal(err)
	}
	j.call(t, admin, "POST", "/api/v1/auth/totp/enable", map[string]any{"code": prev}, 200)

	b := newBrowser(t, 1280, 860)
	b.run(nav(j.base+"/"), typeInto(`input[name=email]`, adminEmail), typeInto(`input[name=password]`, adminPassword),
		click(`[data-test=sign-in]`), visible(`input[name=code]`))
	b.step("code-asked")
	b.run(typeInto(`input[name=code]`, "000000"), click(`[data-test=sign-in]`), visible(`[data-test=signin-error]`))
	b.step("wrong-code")
	// A wrong code ends the challenge: sign in again, with the right code.
	b.run(typeInto(`input[name=email]`, adminEmail), typeInto(`input[name=password]`, adminPassword),
		click(`[data-test=sign-in]`), visible(`input[name=code]`))
	now, _ := totp.GenerateCode(secret, time.Now())
	b.run(typeInto(`input[name=code]`, now), click(`[data-test=sign-in]`), visible(`[data-test=sign-out]`))
	b.step("signed-in-with-code")

	// A role that requires a second factor.
	j.call(t, admin, "PUT", "/api/v1/roles/careful", map[string]any{"label": "Careful", "require_second_factor": true,
		"entities": map[string]any{}, "version": 0}, 200)
	j.call(t, admin, "POST", "/api/v1/users", map[string]any{"email": "care@example.com", "name": "Care", "password": "another long password",
		"roles": []string{"careful"}}, 201)
	c := newBrowser(t, 390, 844)
	c.run(nav(j.base+"/"), typeInto(`input[name=email]`, "care@example.com"), typeInto(`input[name=password]`, "another long password"),
		click(`[data-test=sign-in]`), visible(`[data-test=two-factor]`), click(`[data-test=totp-setup]`), visible(`[data-test=totp-secret]`))
	c.step("setup-required")
	s := eval[string](c, `document.querySelector('[data-test=totp-secret]').textContent.trim()`)
	code, err := totp.GenerateCode(s, time.Now())
	if err != nil {
		t.Fatalf("the page shows %q as the secret: %v", s, err)
	}
	c.run(typeInto(`[data-test=totp-code]`, code), click(`[data-test=totp-enable]`), visible(`[data-test=recovery-codes]`))
	if n := eval[int](c, `document.querySelectorAll('[data-test=recovery-codes] li').length`); n != 10 {
		t.Errorf("%d recovery codes shown, want 10", n)
	}
	c.step("recovery-codes")
	c.run(click(`[data-test=totp-continue]`), visible(`[data-test=sign-out]`), waitText(`h1`, "Care"))
	c.step("in-after-setup")
}
