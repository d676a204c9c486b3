package server

import (
	"strings"

	"github.com/gofiber/fiber/v2"

	"github.com/jimu-crm/jimu/engine/catalog"
)

// openAPI answers with an OpenAPI 3.1 document generated from the live
// metadata, as the caller sees it: the entities they may use, without the
// fields hidden from them, and without the admin routes unless they are
// an admin. Each entity's request body schema is its JSON Schema, the same
// document every write is validated against.
func (s *Server) openAPI(c *fiber.Ctx) error {
	p := principal(c)
	var contracts []Contract
	for _, e := range s.Catalog.List() {
		if schema, ok := s.contract(c.UserContext(), p, e); ok {
			contracts = append(contracts, Contract{Entity: e, Schema: schema})
		}
	}
	return c.JSON(OpenAPI(contracts, s.Version, p.IsAdmin()))
}

// Contract is an entity and its JSON Schema as one caller sees it.
type Contract struct {
	Entity *catalog.Entity
	Schema map[string]any
}

// OpenAPI builds the document; without admin it leaves out the routes
// only admins may call.
func OpenAPI(entities []Contract, version string, admin bool) map[string]any {
	schemas := map[string]any{
		"Problem": map[string]any{
			"type": "object",
			"properties": map[string]any{
				"status": map[string]any{"type": "integer"},
				"title":  map[string]any{"type": "string"},
				"detail": map[string]any{"type": "string"},
				"errors": map[string]any{"type": "array", "items": map[string]any{
					"type": "object",
					"properties": map[string]any{
						"field": map[string]any{"type": "string"}, "code": map[string]any{"type": "string"},
						"message": map[string]any{"type": "string"},
					},
				}},
			},
		},
	}
	paths := map[string]any{
		"/auth/login": map[string]any{"post": op("Sign in", "auth", jsonBody(map[string]any{
			"type": "object", "required": []string{"email", "password"},
			"properties": map[string]any{"email": map[string]any{"type": "string"}, "password": map[string]any{"type": "string"}},
		}), map[string]any{"200": okJSON("A bearer token and the user", map[string]any{"type": "object"})}, false)},
	}
	obj := map[string]any{"type": "object"}
	for _, r := range platformRoutes {
		if r.admin && !admin {
			continue
		}
		item, _ := paths[r.path].(map[string]any)
		if item == nil {
			item = pathItem(r.path)
			paths[r.path] = item
		}
		var body map[string]any
		if r.method == "post" || r.method == "put" || r.method == "patch" {
			body = jsonBody(obj)
		}
		resp := okJSON("OK", obj)
		if r.status == "204" {
			resp = map[string]any{"description": "Done"}
		}
		item[r.method] = op(r.summary, r.tag, body, map[string]any{r.status: resp}, true)
	}
	problem := func(d string) map[string]any {
		return map[string]any{"description": d, "content": map[string]any{"application/problem+json": map[string]any{
			"schema": map[string]any{"$ref": "#/components/schemas/Problem"}}}}
	}
	for _, ec := range entities {
		e := ec.Entity
		input := map[string]any{}
		for k, v := range ec.Schema {
			if k != "$schema" && k != "$id" {
				input[k] = v
			}
		}
		name := e.Name
		schemas[name+"_input"] = input
		props := map[string]any{
			"id": map[string]any{"type": "string", "readOnly": true}, "version": map[string]any{"type": "integer", "readOnly": true},
			"created_at": map[string]any{"type": "string", "format": "date-time", "readOnly": true},
			"updated_at": map[string]any{"type": "string", "format": "date-time", "readOnly": true},
			"created_by": map[string]any{"type": "string", "readOnly": true}, "updated_by": map[string]any{"type": "string", "readOnly": true},
		}
		if e.Ownership {
			props["owner"] = map[string]any{"type": "string"}
		}
		if p, ok := ec.Schema["properties"].(map[string]any); ok {
			for k, v := range p {
				props[k] = v
			}
		}
		schemas[name] = map[string]any{"type": "object", "title": ec.Schema["title"], "properties": props}
		ref := map[string]any{"$ref": "#/components/schemas/" + name}
		inRef := map[string]any{"$ref": "#/components/schemas/" + name + "_input"}
		errs := map[string]any{"400": problem("Bad request"), "401": problem("Not signed in"), "404": problem("Not found"),
			"409": problem("Version conflict or duplicate value"), "422": problem("Validation failed")}
		with := func(code string, resp map[string]any) map[string]any {
			out := map[string]any{code: resp}
			for k, v := range errs {
				out[k] = v
			}
			return out
		}
		paths["/records/"+name] = map[string]any{
			"get": withParams(op("List "+name+" records", name, nil, with("200", okJSON("One page", map[string]any{
				"type": "object", "properties": map[string]any{
					"items": map[string]any{"type": "array", "items": ref}, "next_cursor": map[string]any{"type": []string{"string", "null"}},
					"count": map[string]any{"type": "integer"}, "count_capped": map[string]any{"type": "boolean"},
				}})), true), []any{
				query("filter", "An expression, e.g. stage in [\"won\"] and amount >= 1000"),
				query("sort", "Comma-separated fields, - for descending, e.g. -amount,name"),
				query("fields", "Comma-separated fields to return"),
				map[string]any{"name": "limit", "in": "query", "schema": map[string]any{"type": "integer", "minimum": 1, "maximum": 500, "default": 50}},
				query("cursor", "next_cursor of the previous page"),
				map[string]any{"name": "count", "in": "query", "schema": map[string]any{"type": "boolean"}},
			}),
			"post": op("Create a "+name+" record", name, jsonBody(inRef), with("201", okJSON("Created", ref)), true),
		}
		paths["/records/"+name+"/{id}"] = map[string]any{
			"parameters": pathItem("/records/" + name + "/{id}")["parameters"],
			"get":        op("Get a "+name+" record", name, nil, with("200", okJSON("The record", ref)), true),
			"patch":      op("Change fields of a "+name+" record (If-Match: version)", name, jsonBody(map[string]any{"type": "object"}), with("200", okJSON("Updated", ref)), true),
			"put":        op("Replace a "+name+" record (If-Match: version)", name, jsonBody(inRef), with("200", okJSON("Replaced", ref)), true),
			"delete":     op("Move a "+name+" record to the recycle bin", name, nil, with("204", map[string]any{"description": "Deleted"}), true),
		}
		listed := okJSON("One page", map[string]any{"type": "object"})
		paths["/records/"+name+"/query"] = map[string]any{
			"post": op("List "+name+" records with the parameters as JSON (for long filters)", name, jsonBody(obj), with("200", listed), true)}
		paths["/records/"+name+"/aggregate"] = map[string]any{
			"get": withParams(op("Group and measure "+name+" records in the store", name, nil, with("200", okJSON("Groups", obj)), true), []any{
				query("group_by", "Comma-separated fields, a date as field:day|month|year"),
				query("measures", "count, sum:field, avg:field, min:field, max:field, count_distinct:field"),
				query("filter", "An expression"),
			})}
		paths["/records/"+name+"/board"] = map[string]any{
			"get": withParams(op("A kanban board of "+name+" records on a select field", name, nil, with("200", okJSON("Columns", obj)), true), []any{
				query("field", "The select field"), query("filter", "An expression"), query("sort", "Order of the cards"),
				query("fields", "Fields of the cards"),
				map[string]any{"name": "limit", "in": "query", "schema": map[string]any{"type": "integer", "minimum": 1, "maximum": 100}},
			})}
		paths["/records/"+name+"/bulk"] = map[string]any{
			"post": op("Change or delete up to 500 "+name+" records, each on its own", name, jsonBody(obj), with("200", okJSON("Each record's result", obj)), true)}
		timeline := pathItem("/records/" + name + "/{id}/timeline")
		timeline["get"] = withParams(op("What happened to a "+name+" record: its activities and changes", name, nil, with("200", okJSON("One page", obj)), true), []any{
			query("before", "next_before of the previous page"),
			map[string]any{"name": "limit", "in": "query", "schema": map[string]any{"type": "integer", "minimum": 1, "maximum": 100}},
		})
		paths["/records/"+name+"/{id}/timeline"] = timeline
		acts := pathItem("/records/" + name + "/{id}/activities/{kind}")
		acts["post"] = op("Add a note, task or logged activity to a "+name+" record", name, jsonBody(obj), with("201", okJSON("Added", obj)), true)
		paths["/records/"+name+"/{id}/activities/{kind}"] = acts
	}
	return map[string]any{
		"openapi": "3.1.0",
		"info": map[string]any{"title": "Jimu API", "version": version,
			"description": "Generated from the live metadata: every entity is served by the same records API."},
		"jsonSchemaDialect": "https://json-schema.org/draft/2020-12/schema",
		"servers":           []any{map[string]any{"url": "/api/v1"}},
		"security":          []any{map[string]any{"bearer": []any{}}},
		"paths":             paths,
		"components": map[string]any{
			"schemas":         schemas,
			"securitySchemes": map[string]any{"bearer": map[string]any{"type": "http", "scheme": "bearer"}},
		},
	}
}

// route is one platform operation in the document: its method, path,
// success status, summary and tag; admin routes are left out of the
// documents of others.
type route struct {
	method, path, status, summary, tag string
	admin                              bool
}

var platformRoutes = []route{
	{"post", "/auth/login/totp", "200", "Second step of a sign-in with TOTP", "auth", false},
	{"post", "/auth/logout", "204", "Sign out (revokes the session)", "auth", false},
	{"get", "/auth/me", "200", "The signed-in user, whether they are an admin, their language", "auth", false},
	{"patch", "/auth/me", "200", "Change your name or language", "auth", false},
	{"get", "/auth/tokens", "200", "Your API tokens", "auth", false},
	{"post", "/auth/tokens", "201", "Create an API token (shown once; optional scope read_only or roles)", "auth", false},
	{"delete", "/auth/tokens/{id}", "204", "Revoke an API token", "auth", false},
	{"get", "/auth/totp", "200", "Your second-factor state", "auth", false},
	{"post", "/auth/totp/setup", "200", "Start TOTP setup: secret and otpauth URL", "auth", false},
	{"post", "/auth/totp/enable", "200", "Turn TOTP on with a code; returns recovery codes", "auth", false},
	{"post", "/auth/totp/disable", "200", "Turn TOTP off with a code", "auth", false},
	{"post", "/auth/password", "200", "Change your password (current_password, new_password); your other sessions end", "auth", false},
	{"get", "/openapi.json", "200", "This document, as you may use the API", "platform", false},
	{"get", "/entities", "200", "The entities you may use, with your permissions", "platform", false},
	{"get", "/entities/{entity}", "200", "An entity as you may use it: its fields you see, its related lists", "platform", false},
	{"post", "/expressions/check", "200", "Whether an expression compiles for its place, and where it goes wrong", "platform", false},
	{"get", "/search", "200", "Records whose title contains q, across the entities you can read", "platform", false},
	{"get", "/activities/{kind}/{id}", "200", "A note, task or logged activity", "activities", false},
	{"patch", "/activities/{kind}/{id}", "200", "Change a note, task or logged activity (a task's assignee too)", "activities", false},
	{"delete", "/activities/{kind}/{id}", "204", "Remove a note, task or logged activity", "activities", false},
	{"get", "/tasks/mine", "200", "Your open tasks, soonest due first", "activities", false},
	{"get", "/people", "200", "Active users by name (q) or by id (ids): for user pickers; e-mail addresses for admins only", "platform", false},
	{"get", "/recent", "200", "The records you opened lately, newest first", "platform", false},
	{"post", "/recent", "204", "Note a record you opened", "platform", false},
	{"get", "/audit", "200", "The audit log (admin; others per readable record)", "platform", false},
	{"get", "/meta/entities/{entity}/schema", "200", "The entity's JSON Schema, as you may see it", "platform", false},
	{"get", "/meta/field-types", "200", "Field types", "metadata", true},
	{"get", "/meta/entities", "200", "Entities", "metadata", true},
	{"post", "/meta/entities", "201", "Create an entity", "metadata", true},
	{"get", "/meta/entities/{entity}", "200", "An entity", "metadata", true},
	{"put", "/meta/entities/{entity}", "200", "Replace an entity", "metadata", true},
	{"delete", "/meta/entities/{entity}", "204", "Delete an entity without records", "metadata", true},
	{"get", "/meta/entities/{entity}/history", "200", "Every version of an entity", "metadata", true},
	{"post", "/meta/entities/{entity}/fields", "201", "Add a field", "metadata", true},
	{"get", "/meta/entities/{entity}/fields/{field}", "200", "A field", "metadata", true},
	{"put", "/meta/entities/{entity}/fields/{field}", "200", "Replace a field", "metadata", true},
	{"patch", "/meta/entities/{entity}/fields/{field}", "200", "Change a field; a type change converts every record or is refused (?dry_run=true: what it would convert, changing nothing)", "metadata", true},
	{"delete", "/meta/entities/{entity}/fields/{field}", "204", "Hide a field, keeping its data (?dry_run=true: how many records hold a value)", "metadata", true},
	{"post", "/meta/entities/{entity}/fields/{field}/purge", "204", "Remove a hidden field's data", "metadata", true},
	{"get", "/users", "200", "Users", "access", true},
	{"post", "/users", "201", "Create a user", "access", true},
	{"get", "/users/{id}", "200", "A user", "access", true},
	{"patch", "/users/{id}", "200", "Change roles, teams, attributes, active", "access", true},
	{"post", "/users/{id}/password", "200", "Set a user's password; their sessions end", "access", true},
	{"delete", "/users/{id}/totp", "204", "Turn off a user's second factor", "access", true},
	{"get", "/teams", "200", "Teams", "access", true},
	{"post", "/teams", "201", "Create a team", "access", true},
	{"get", "/teams/{id}", "200", "A team", "access", true},
	{"patch", "/teams/{id}", "200", "Change a team", "access", true},
	{"delete", "/teams/{id}", "204", "Delete a team without sub-teams", "access", true},
	{"get", "/roles", "200", "Roles", "access", true},
	{"get", "/roles/{name}", "200", "A role", "access", true},
	{"put", "/roles/{name}", "200", "Create or replace a role", "access", true},
	{"delete", "/roles/{name}", "204", "Delete a role", "access", true},
	{"get", "/access/explain", "200", "Why a user can or cannot act on a record", "access", true},
}

// pathItem is a path item declaring the path's template parameters, which
// every operation under it shares.
func pathItem(path string) map[string]any {
	item := map[string]any{}
	var params []any
	for rest := path; ; {
		i := strings.IndexByte(rest, '{')
		if i < 0 {
			break
		}
		j := strings.IndexByte(rest[i:], '}')
		params = append(params, map[string]any{"name": rest[i+1 : i+j], "in": "path", "required": true,
			"schema": map[string]any{"type": "string"}})
		rest = rest[i+j:]
	}
	if len(params) > 0 {
		item["parameters"] = params
	}
	return item
}

func op(summary, tag string, body map[string]any, responses map[string]any, secured bool) map[string]any {
	o := map[string]any{"summary": summary, "tags": []string{tag}, "responses": responses}
	if body != nil {
		o["requestBody"] = body
	}
	if !secured {
		o["security"] = []any{}
	}
	return o
}

func withParams(o map[string]any, params []any) map[string]any {
	o["parameters"] = params
	return o
}

func query(name, desc string) map[string]any {
	return map[string]any{"name": name, "in": "query", "description": desc, "schema": map[string]any{"type": "string"}}
}

func jsonBody(schema map[string]any) map[string]any {
	return map[string]any{"required": true, "content": map[string]any{"application/json": map[string]any{"schema": schema}}}
}

func okJSON(desc string, schema map[string]any) map[string]any {
	return map[string]any{"description": desc, "content": map[string]any{"application/json": map[string]any{"schema": schema}}}
}
