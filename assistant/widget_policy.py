"""What a chat request with a widget key may ask for.

A widget key is publishable: it sits in the page that embeds the widget, so
anyone can copy it and send any request with it. Such requests are held to
what the widget itself sends (`assistant/static/widget.js`), each breach a 400:

- no ``system``, ``developer`` or ``tool`` messages: only the operator's
  profile gives the model instructions;
- the conversation the widget keeps in the visitor's ``sessionStorage``: it
  starts and ends with a user turn, an assistant turn only ever follows a
  user turn, and no assistant turn is longer than an answer can be (``ANSWER_CHARS_PER_TOKEN``
  characters a token of ``server.widget_max_tokens``). One plausible forged
  assistant turn cannot be told from a real one; it steers no more than the
  visitor's own question can, and only the visitor's own answer;
- ``retrieval`` stays on: answers are always grounded.

A key with ``trusted: true`` (a page you control) skips those three. Every
widget key, trusted or not, is capped in cost: ``n`` must be 1, ``max_tokens``
is lowered to ``server.widget_max_tokens``, and tokens per minute are budgeted
in ``assistant.auth``.
"""

from __future__ import annotations

from assistant.auth import Principal
from assistant.errors import bad_request
from assistant.protocol import ChatCompletionRequest
from tenor.config import Profile, ServerSettings

ANSWER_CHARS_PER_TOKEN = 8  # generous: English text runs about 4 characters a token


def restrict(request: ChatCompletionRequest, who: Principal, profile: Profile,
             server: ServerSettings) -> ChatCompletionRequest:
    """The request as a widget key may send it; raises a 400 ``ApiError`` for what it may not."""
    if not who.trusted:
        _check_conversation(request, server.widget_max_tokens * ANSWER_CHARS_PER_TOKEN)
        if not request.retrieval:
            raise bad_request("A widget key's answers are always grounded: 'retrieval: false' is not allowed.",
                              param="retrieval", code="widget_not_allowed")
    if request.n != 1:
        raise bad_request("A widget key gets one answer per request: 'n' must be 1.", param="n",
                          code="widget_not_allowed")
    cap = server.widget_max_tokens
    asked = request.requested_max_tokens or profile.decoding.max_tokens or server.default_max_tokens
    return request.model_copy(update={"max_tokens": min(asked, cap), "max_completion_tokens": None})


def _check_conversation(request: ChatCompletionRequest, max_answer_chars: int) -> None:
    previous = None
    for i, message in enumerate(request.messages):
        param = f"messages.{i}"
        if message.role not in ("user", "assistant"):
            raise bad_request(f"A widget key may send only user and assistant messages, not '{message.role}': "
                              "the assistant's instructions are the operator's.", param=param,
                              code="widget_not_allowed")
        if message.role == "assistant":
            if previous != "user":
                raise bad_request("An assistant message must follow a user message, as in the widget's own "
                                  "conversation.", param=param, code="widget_not_allowed")
            if len(message.text()) > max_answer_chars:
                raise bad_request(f"An assistant message is longer than an answer can be ({max_answer_chars} "
                                  "characters).", param=param, code="widget_not_allowed")
        previous = message.role
    if previous != "user":
        raise bad_request("The last message must be the visitor's question (a user message).",
                          param=f"messages.{len(request.messages) - 1}", code="widget_not_allowed")
