package forms

import (
	"golang.org/x/text/language"
)

// Public pages speak the visitor's language: English or Simplified
// Chinese, by Accept-Language (or ?lang=), English otherwise.
var (
	pageLocales = []string{"en", "zh-CN"}
	matcher     = language.NewMatcher([]language.Tag{language.English, language.SimplifiedChinese})
)

// pageLocale picks the page's locale from ?lang= or Accept-Language.
func pageLocale(query, accept string) string {
	if contains(pageLocales, query) {
		return query
	}
	tags, _, err := language.ParseAcceptLanguage(accept)
	if err != nil || len(tags) == 0 {
		return "en"
	}
	_, i, conf := matcher.Match(tags...)
	if conf == language.No {
		return "en"
	}
	return pageLocales[i]
}

// messages are what a public page says, by locale.
var messages = map[string]map[string]string{
	"en": {
		"submit":        "Send",
		"required_mark": "required",
		"thanks":        "Thank you — we have received your submission.",
		"again":         "Send another",
		"honeypot":      "Leave this field empty",
		"challenge":     "To show you are not a robot: what is %s?",
		"pow_wait":      "Checking your browser…",
		"pow_noscript":  "This form needs JavaScript for its spam check. Please turn it on, or contact us another way.",
		"fix":           "Please correct the fields marked below.",
		"not_found":     "This form does not exist or is no longer published.",
		"too_big":       "What you sent is too large.",
		"too_many":      "Too many submissions: please try again in %d seconds.",
		"pending":       "Your submission is already being processed.",
		"code_token":    "Please check your entries and send the form again.",
		"code_too_fast": "That was quicker than a person can fill in this form: please check your entries and send it again.",
		"code_chal":     "The answer to the check question is not right: please try again.",
		"code_used":     "This page was sent already: please check your entries and send them again.",
		"code_honeypot": "This submission looks automated and was not accepted.",
		"e_required":    "This field is required.",
		"e_type":        "This value has the wrong type for this field.",
		"e_format":      "This value is not in the expected format.",
		"e_option":      "Please choose one of the options offered.",
		"e_hidden":      "This field is not asked for with your other answers.",
		"e_read_only":   "This field cannot be changed.",
		"e_unknown":     "This form has no such field.",
		"e_markup":      "Please leave out HTML and scripts.",
		"e_too_long":    "This is too long.",
		"e_too_short":   "This is too short.",
		"e_range":       "This value is out of range.",
		"e_unique":      "This value is already taken.",
		"e_repeated":    "This field was sent more than once.",
		"e_invalid":     "This value is not valid.",
		"yes":           "Yes",
		"choose":        "Choose…",
	},
	"zh-CN": {
		"submit":        "提交",
		"required_mark": "必填",
		"thanks":        "感谢提交，我们已收到您的信息。",
		"again":         "再提交一份",
		"honeypot":      "请勿填写此项",
		"challenge":     "为确认您不是机器人：%s 等于多少？",
		"pow_wait":      "正在检查您的浏览器…",
		"pow_noscript":  "此表单的防垃圾检查需要 JavaScript。请启用 JavaScript，或通过其他方式联系我们。",
		"fix":           "请更正下面标出的字段。",
		"not_found":     "此表单不存在或已停止发布。",
		"too_big":       "提交的内容过大。",
		"too_many":      "提交过于频繁，请在 %d 秒后重试。",
		"pending":       "您的提交正在处理中。",
		"code_token":    "请检查填写的内容后再次提交。",
		"code_too_fast": "提交速度超出了人工填写的可能，请检查内容后再次提交。",
		"code_chal":     "验证问题的答案不正确，请重试。",
		"code_used":     "此页面已提交过，请检查内容后再次提交。",
		"code_honeypot": "此提交看起来是自动程序发出的，未被接受。",
		"e_required":    "此项为必填项。",
		"e_type":        "此值的类型与字段不符。",
		"e_format":      "此值的格式不正确。",
		"e_option":      "请从给出的选项中选择。",
		"e_hidden":      "根据您的其他回答，无需填写此项。",
		"e_read_only":   "此项不可修改。",
		"e_unknown":     "此表单没有这个字段。",
		"e_markup":      "请不要输入 HTML 或脚本。",
		"e_too_long":    "内容过长。",
		"e_too_short":   "内容过短。",
		"e_range":       "此值超出允许范围。",
		"e_unique":      "此值已被使用。",
		"e_repeated":    "此字段被重复提交。",
		"e_invalid":     "此值无效。",
		"yes":           "是",
		"choose":        "请选择…",
	},
}

// fieldMessages turns the pipeline's error codes into what a person reads.
var fieldMessages = map[string]string{
	"required": "e_required", "type": "e_type", "format": "e_format", "enum": "e_option", "option": "e_option",
	"hidden": "e_hidden", "read_only": "e_read_only", "unknown_field": "e_unknown", "not_on_form": "e_unknown",
	"markup": "e_markup", "maxLength": "e_too_long", "max_length": "e_too_long", "maxItems": "e_too_long",
	"minLength": "e_too_short", "minimum": "e_range", "maximum": "e_range", "range": "e_range",
	"unique": "e_unique", "repeated": "e_repeated",
}

// say is a message in a locale.
func say(locale, key string) string {
	if m, ok := messages[locale][key]; ok {
		return m
	}
	return messages["en"][key]
}

// fieldMessage is the message of a field error in a locale. A validation
// rule's message is the admin's own text and is shown as written.
func fieldMessage(locale string, code, msg string) string {
	if code == "rule" {
		return msg
	}
	if key, ok := fieldMessages[code]; ok {
		return say(locale, key)
	}
	return say(locale, "e_invalid")
}
