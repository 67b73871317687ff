"""The support widget as a person uses it: a real chromium, the real server, the real vLLM.

Screenshots go to test-artifacts/ (docs/widget-demo.png is one of them).
"""

from __future__ import annotations

import json
import time

import pytest

from tests.conftest import ARTIFACTS

pytestmark = pytest.mark.vllm

QUESTION = "How long is the warranty on the battery?"
MAX_TOKENS = 40  # short answers keep the CPU tier fast; set the way a site would (Tenor.configure)
ANSWER_TIMEOUT_S = 240

SHADOW = "document.querySelector('[data-tenor-widget]').shadowRoot"
BUBBLES = f"""() => Array.from({SHADOW}.querySelectorAll('.msg:not(.greeting)'))
    .map(n => [n.dataset.role, n.textContent, n.querySelectorAll('.sources details').length])"""
BUSY = f"() => {SHADOW}.querySelector('form button').disabled"
ERROR = f"() => {SHADOW}.querySelector('.error')?.textContent || null"


def shot(page, name: str) -> None:
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / f"{name}.png"))


def open_widget(page, url: str, title: str = "Larkfield support"):
    page.goto(url)
    page.wait_for_function("window.Tenor && window.Tenor.__loaded")
    page.evaluate(f"Tenor.configure({{maxTokens: {MAX_TOKENS}}})")
    if page.get_by_role("dialog").is_hidden():
        page.get_by_role("button", name=f"Open {title} chat").click()
    return page.get_by_role("dialog", name=f"{title} chat")


def ask(page, question: str) -> None:
    page.get_by_label("Your question").fill(question)
    page.get_by_label("Your question").press("Enter")


def watch_answer(page) -> list[int]:
    """Sample the answer bubble's text length every 50 ms until the answer is complete."""
    lengths, deadline = [], time.monotonic() + ANSWER_TIMEOUT_S
    while time.monotonic() < deadline:
        error = page.evaluate(ERROR)
        assert not error, error
        bubbles = page.evaluate(BUBBLES)
        if bubbles and bubbles[-1][0] == "assistant":
            if not page.evaluate(BUSY):
                return lengths
            lengths.append(len(bubbles[-1][1]))
        time.sleep(0.05)
    pytest.fail(f"no complete answer within {ANSWER_TIMEOUT_S} s; saw lengths {lengths[-10:]}")


def test_demo_page_streams_an_answer_with_sources_and_keeps_the_conversation(tenor_server, context):
    page = context.new_page()
    panel = open_widget(page, f"{tenor_server.url}/demo")
    ask(page, QUESTION)
    page.get_by_text("is typing").wait_for()  # the typing state shows until the first token

    lengths = watch_answer(page)
    growing = sorted(set(n for n in lengths if n > 0))
    assert len(growing) >= 3, f"the answer did not stream: text lengths seen {lengths}"

    sources = panel.locator(".sources details")
    assert sources.count() >= 1
    sources.first.locator("summary").click()
    assert sources.first.locator("p").is_visible()
    assert sources.first.locator("summary").inner_text().startswith("[1] ")
    handoff = panel.get_by_role("link", name="Talk to a person")
    assert handoff.get_attribute("href") == "https://larkfieldcycles.example/contact"  # from the profile
    # The demo page styles every div at 22px red (!important): none of it reaches the shadow DOM.
    assert panel.locator(".msg.user").evaluate("n => getComputedStyle(n).fontSize") == "15px"
    shot(page, "widget-demo")

    answer = page.evaluate(BUBBLES)
    page.reload()  # the conversation is kept for the tab, and the panel stays open
    page.get_by_role("dialog").wait_for()
    assert page.evaluate(BUBBLES) == answer
    assert panel.get_by_text(QUESTION, exact=True).is_visible()

    panel.get_by_role("button", name="Start a new conversation").click()
    assert page.evaluate(BUBBLES) == []
    page.reload()
    page.get_by_role("dialog").wait_for()
    assert page.evaluate(BUBBLES) == []


def test_a_network_failure_offers_a_retry_that_works(tenor_server, context, embed_pages):
    allowed, _ = embed_pages  # also covers an allowed cross-site embed (CORS preflight, origin check)
    posts = []

    def flaky(route):
        if route.request.method == "POST":
            posts.append(route.request.url)
            if len(posts) == 1:
                return route.abort("connectionreset")
        return route.continue_()

    page = context.new_page()
    page.route(f"{tenor_server.url}/v1/chat/completions", flaky)
    panel = open_widget(page, allowed, title="Shop help")
    ask(page, QUESTION)
    error = panel.get_by_role("alert")
    error.wait_for()
    assert "Network problem" in error.inner_text()
    shot(page, "widget-network-retry")
    error.get_by_role("button", name="Retry").click()
    watch_answer(page)
    assert len(posts) == 2
    bubbles = page.evaluate(BUBBLES)
    assert [b[0] for b in bubbles] == ["user", "assistant"]  # the question is not asked twice


def test_a_site_the_key_does_not_allow_is_refused(tenor_server, context, embed_pages):
    _, refused = embed_pages
    page = context.new_page()
    panel = open_widget(page, refused, title="Shop help")
    ask(page, QUESTION)
    error = panel.get_by_role("alert")
    error.wait_for()
    text = error.inner_text()
    assert "not available on this site" in text and "http://localhost:" in text
    assert error.get_by_role("button", name="Retry").count() == 0  # retrying cannot help
    shot(page, "widget-refused-origin")


@pytest.mark.parametrize("status, headers, message", [
    (503, {"Retry-After": "5"}, "The assistant is unavailable right now"),
    (429, {"Retry-After": "20"}, "Please wait 20 seconds"),
])
def test_unavailable_and_busy_get_plain_messages_and_a_retry(tenor_server, context, status, headers, message):
    page = context.new_page()
    page.route(f"{tenor_server.url}/v1/chat/completions", lambda route: route.fulfill(
        status=status, headers=headers, json={"error": {"message": "x", "type": "t", "param": None, "code": None}}))
    panel = open_widget(page, f"{tenor_server.url}/demo")
    ask(page, QUESTION)
    error = panel.get_by_role("alert")
    error.wait_for()
    assert message in error.inner_text()
    assert error.get_by_role("button", name="Retry").is_visible()


def test_a_citation_links_to_the_page_it_came_from(tenor_server, context):
    url = "https://help.example/articles/warranty"
    citation = {"index": 1, "document_id": url, "section": "Warranty", "page": None, "score": 0.8,
                "text": "The frame is covered for life.", "url": url}
    chunks = [{"choices": [{"index": 0, "delta": {"role": "assistant", "content": ""}}], "citations": [citation]},
              {"choices": [{"index": 0, "delta": {"content": "Covered for life [1]."}}]},
              {"choices": [{"index": 0, "delta": {}, "finish_reason": "stop"}]}]
    body = "".join(f"data: {json.dumps({'id': 'c', 'object': 'chat.completion.chunk', **c})}\n\n" for c in chunks)
    page = context.new_page()
    page.route(f"{tenor_server.url}/v1/chat/completions", lambda route: route.fulfill(
        status=200, headers={"Content-Type": "text/event-stream"}, body=body + "data: [DONE]\n\n"))
    panel = open_widget(page, f"{tenor_server.url}/demo")
    ask(page, QUESTION)
    link = panel.locator(".sources details a")
    link.wait_for(state="attached")
    assert link.get_attribute("href") == url
    assert link.get_attribute("target") == "_blank" and "noopener" in link.get_attribute("rel")


def test_thumbs_down_asks_what_was_wrong_and_sends_it_as_feedback(tenor_server, context):
    chunks = [{"id": "chatcmpl-w1", "choices": [{"index": 0, "delta": {"role": "assistant", "content": ""}}],
               "citations": []},
              {"id": "chatcmpl-w1", "choices": [{"index": 0, "delta": {"content": "Hey rider! Two years."}}]},
              {"id": "chatcmpl-w1", "choices": [{"index": 0, "delta": {}, "finish_reason": "stop"}]}]
    body = "".join(f"data: {json.dumps({'object': 'chat.completion.chunk', **c})}\n\n" for c in chunks)
    sent = []

    def feedback(route):
        sent.append(json.loads(route.request.post_data))
        route.fulfill(status=201, json={"object": "feedback", "id": 1, "response_id": "chatcmpl-w1"})

    page = context.new_page()
    page.route(f"{tenor_server.url}/v1/chat/completions", lambda route: route.fulfill(
        status=200, headers={"Content-Type": "text/event-stream"}, body=body + "data: [DONE]\n\n"))
    page.route(f"{tenor_server.url}/v1/feedback", feedback)
    panel = open_widget(page, f"{tenor_server.url}/demo")
    ask(page, QUESTION)
    panel.get_by_role("button", name="Not helpful").click()
    panel.get_by_label("What was wrong?").fill("The battery warranty is longer.")
    panel.get_by_role("button", name="Send feedback").click()
    panel.get_by_text("Thanks for your feedback.").wait_for()
    assert sent == [{"response_id": "chatcmpl-w1", "rating": "down", "comment": "The battery warranty is longer."}]
    page.reload()  # the rating is kept with the conversation: no second vote
    page.get_by_role("dialog").wait_for()
    assert panel.get_by_text("Thanks for your feedback.").is_visible()
    assert panel.get_by_role("button", name="Helpful").count() == 0


def test_keyboard_and_screen_reader_basics(tenor_server, context):
    page = context.new_page()
    page.goto(f"{tenor_server.url}/demo")
    page.wait_for_function("window.Tenor && window.Tenor.__loaded")
    launcher = page.get_by_role("button", name="Open Larkfield support chat")
    page.keyboard.press("Tab")
    assert launcher.evaluate("n => n.getRootNode().activeElement === n")
    page.keyboard.press("Enter")
    dialog = page.get_by_role("dialog", name="Larkfield support chat")
    dialog.wait_for()
    assert page.get_by_label("Your question").evaluate("n => n.getRootNode().activeElement === n")
    assert dialog.get_by_role("log").count() == 1
    page.keyboard.press("Escape")
    assert dialog.is_hidden()
    assert launcher.get_attribute("aria-expanded") == "false"


def test_phone_sized_viewport(tenor_server, browser):
    context = browser.new_context(viewport={"width": 390, "height": 844}, is_mobile=True, has_touch=True,
                                  device_scale_factor=2)
    try:
        page = context.new_page()
        panel = open_widget(page, f"{tenor_server.url}/demo")
        box = panel.bounding_box()  # the panel takes the whole screen
        assert box["x"] == 0 and box["width"] == pytest.approx(390, abs=1) and box["height"] == pytest.approx(844, abs=1)
        assert page.get_by_label("Your question").is_visible()
        assert page.get_by_role("button", name="Send").is_visible()
        shot(page, "widget-phone")
        panel.get_by_role("button", name="Close chat").click()
        assert panel.is_hidden()
    finally:
        context.close()
