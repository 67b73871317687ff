"""Answer verification (tenor.verify): attribution, the figure check, markers, each answer policy."""

from dataclasses import dataclass

from tenor.evidence import select_evidence
from tenor.verify import apply_policy, attribute, checkable, extract_answer, facts, split_sentences

WARRANTY = ("Frames are covered for the lifetime of the original owner. Motors and batteries are covered "
            "for 2 years from delivery. Claims go to warranty@larkfield.example or +1 (555) 010-2030.")
PRODUCTS = "| Model | Price (USD) |\n|---|---|\n| Cargo K1 | $3,899 |\n| Fold F1 | $1,799 |"
PASSAGES = [WARRANTY, PRODUCTS]
VOICE = ["Hey rider!", "Ride bright! — The Larkfield crew"]
NO_ANSWER = "Hey rider! Our docs don't cover that one."


@dataclass
class P:
    text: str
    document_id: str
    section: str | None = None
    page: int | None = None
    score: float = 0.6


def evidence(question):
    return select_evidence(question, [P(WARRANTY, "warranty.pdf"), P(PRODUCTS, "products.md")], 200)


def strict(question, passages, answer):
    """What the strict policy ships for ``answer`` over the evidence ``passages`` give ``question``."""
    ev = select_evidence(question, passages, 200)
    attribution = attribute(answer, [checkable({"text": e.full_text, "section": e.section}) for e in ev])
    return apply_policy("strict", answer, attribution, ev, no_answer=NO_ANSWER, refused=False, question=question,
                        min_coverage=0.5)


def test_figures_are_found_and_normalised():
    found = facts("It costs $3,899.00 (or 3899 USD), 2.5 hours, on 03/04, call +1 (555) 010-2030 "
                  "or write to Help@Larkfield.example; the Cargo K1 and C2 are models, not figures.")
    assert found == ["email:help@larkfield.example", "phone:15550102030", "n:3899", "n:2.5", "n:3", "n:4"]


def test_a_time_of_day_is_checked_as_one_not_as_its_digits():
    """"From 2pm to 6pm" shipped against "1pm to 6pm" because "2 years" held a 2 (an unseen company's
    van hire); an answer's time with am or pm is vouched for by the same time, however the passage
    writes it, in a sentence about the same thing (as a number is)."""
    assert facts("Open 8:30am to 5.30 p.m., 18:00 on Fridays; 13pm") == [
        "time:08:30", "time:17:30", "n:18", "n:0", "n:13"]  # a clock time without am or pm stays numbers
    hire = ["Hire prices: Half day (8am to 1pm, or 1pm to 6pm) £45; Full day (8am to 6pm): £75",
            "Drivers must have held a licence for at least 2 years."]
    wrong = attribute("From 2pm to 6pm, the van is £75.", hire)
    assert wrong.factual[0].missing == ["time:14:00"] and not wrong.factual[0].supported
    for right in ("A full day, 8am to 6pm, is £75.", "A full day runs until 6 and costs £75."):
        assert attribute(right, hire).factual[0].supported, right
    for answer, passage in (("The office opens at 9am and shuts at 5.30pm.", "The office opens 9.00-5.30."),
                            ("We're open 9am to 5pm on weekdays.", "Opening hours: Monday to Friday 9-5pm."),
                            ("Call us 8am-8pm on 0800 123 4567.", "Call 0800 123 4567, 8-8 daily."),
                            ("The office closes at 5:30 on Fridays.", "The office closes at 5:30pm on Fridays.")):
        assert attribute(answer, [passage]).groundedness == 1, answer
    assert attribute("The evening tour starts at 9pm.", ["The evening tour costs 9.00 EUR."]).groundedness == 0
    assert attribute("The shop opens at 9am.", ["Deliveries come at 9am. The shop opens at 10am."]).groundedness == 0


def test_sentences_split_on_ends_not_on_decimals_or_emails():
    text = "It is 2.5 kg. Write to a@b.example today!\nThanks"
    assert [text[a:b] for a, b in split_sentences(text)] == ["It is 2.5 kg.", "Write to a@b.example today!",
                                                             "Thanks"]


def test_supported_sentence_is_attributed_and_marked_by_the_server():
    a = attribute("Hey rider! Motors and batteries are covered for 2 years [2]. Ride bright! — The Larkfield crew",
                  PASSAGES, voice_phrases=VOICE)
    factual = a.factual
    assert len(factual) == 1 and factual[0].passages == [1] and factual[0].supported
    # the model's wrong marker is dropped; the server's goes before the final punctuation
    assert a.marked() == "Hey rider! Motors and batteries are covered for 2 years [1]. Ride bright! — The Larkfield crew"
    assert a.groundedness == 1.0
    assert a.used() == {1: {"support": factual[0].support,
                            "sentences": ["Motors and batteries are covered for 2 years."]}}


def test_a_number_absent_from_the_cited_passage_makes_the_sentence_unsupported():
    a = attribute("Motors and batteries are covered for 3 years.", PASSAGES)
    assert a.factual[0].missing == ["n:3"] and not a.factual[0].supported and a.groundedness == 0.0


def test_a_price_absent_from_every_passage_is_unsupported_even_with_word_overlap():
    a = attribute("The Cargo K1 costs $3,249.", PASSAGES)
    assert a.factual[0].missing == ["n:3249"] and not a.factual[0].supported
    assert attribute("The Cargo K1 costs $3,899.", PASSAGES).factual[0].supported


def test_figures_may_come_from_two_cited_passages_and_number_words_count():
    a = attribute("Frames are covered for life and the Fold F1 costs $1,799; claims go to "
                  "warranty@larkfield.example.", PASSAGES)
    s = a.factual[0]
    assert s.supported and s.passages == [1, 2]
    assert attribute("Motors are covered for two years.", ["Motors are covered for 2 years."]).groundedness == 1.0
    assert attribute("Motors are covered for 2 years.", ["Motors have a two-year warranty."]).groundedness == 1.0


def test_a_number_the_passage_states_about_something_else_is_unsupported():
    # "2 years" is in the passage, but for motors and batteries: the frame's is the owner's lifetime
    a = attribute("The frame is covered for 2 years.", PASSAGES)
    assert a.factual[0].missing == ["n:2"] and not a.factual[0].supported
    assert not attribute("The Fold F1 costs $3,899.", PASSAGES).factual[0].supported  # the Cargo K1's price
    assert attribute("Motors are covered for 2 years.", PASSAGES).factual[0].supported
    assert attribute("The Fold F1 costs $1,799.", PASSAGES).factual[0].supported  # a row, with its header


def test_a_number_is_bound_through_a_pronoun_and_despite_words_from_other_sentences():
    hauler = "The Cargo K1 is our family hauler. It costs $3,899. The Fold F1 folds in 10 seconds."
    assert attribute("The Cargo K1 costs $3,899.", [hauler]).factual[0].supported
    assert not attribute("The Fold F1 costs $3,899.", [hauler]).factual[0].supported
    returns = "You can return any bike within 30 days. Refunds are issued within 5 business days."
    assert attribute("You can return your bike within 30 days for a refund.", [returns]).factual[0].supported
    assert not attribute("Refunds are issued within 30 days.", [returns]).factual[0].supported


def test_a_sentence_that_joins_several_facts_binds_each_number_in_its_own_clause():
    table = "| Model | Price (USD) |\n|---|---|\n| Cargo K1 | $3,899 |\n| Fold F1 | $1,799 |\n| City C2 | $2,499 |"
    joined = "The Cargo K1 costs $3,899, the Fold F1 $1,799 and the City C2 $2,499."
    assert attribute(joined, [table]).factual[0].supported
    swapped = "The Cargo K1 costs $1,799, the Fold F1 $3,899 and the City C2 $2,499."
    assert sorted(attribute(swapped, [table]).factual[0].missing) == ["n:1799", "n:3899"]
    shipping = "Standard shipping is free on orders over $50. Delivery takes 3-5 business days."
    answer = "Standard shipping is free on orders over $50 and takes 3-5 business days."
    assert attribute(answer, [shipping]).factual[0].supported


def test_a_number_only_in_a_heading_states_nothing():
    passage = checkable({"text": "Unpack the bike and fit the pedals.", "section": "Step 3"})
    assert attribute("Fit the pedals within 3 minutes of unpacking the bike.", [passage]).factual[0].missing == ["n:3"]
    # the heading still says what the numbers below it are about
    row = checkable({"text": "- **Price:** $3,899\n- **Weight:** 34 kg", "section": "Products > Cargo K1"})
    assert attribute("The Cargo K1 costs $3,899.", [row]).factual[0].supported


def test_an_email_or_phone_not_in_the_passages_is_unsupported():
    assert not attribute("Claims go to claims@larkfield.example.", PASSAGES).factual[0].supported
    assert not attribute("Call us on +1 555 999 0000 for claims.", PASSAGES).factual[0].supported
    assert attribute("Call us on 555-010-2030 for claims.", PASSAGES).factual[0].missing == []


def test_chatter_is_not_a_claim():
    a = attribute("Hey rider! Happy to help. Ride bright! — The Larkfield crew", PASSAGES, voice_phrases=VOICE)
    assert a.factual == [] and a.groundedness is None


def test_embedding_similarity_adds_to_the_overlap():
    # lexical overlap 1/3, cosine 1.0 -> 0.67 with embeddings; 0.33 without
    sentence = "Frames last forever guaranteed."
    without = attribute(sentence, ["Frames are covered for life."])
    assert not without.factual[0].supported

    def embed(texts):
        return [[1.0, 0.0] for _ in texts]

    assert attribute(sentence, ["Frames are covered for life."], embed=embed).factual[0].supported


def policy(name, answer, question="What does the Cargo K1 and the warranty cost?"):
    """As the server does it: the evidence is numbered as the prompt's passages, and
    sentences are checked against those passages' whole text."""
    ev = evidence(question)
    attribution = attribute(answer, [e.full_text for e in ev], voice_phrases=VOICE)
    return apply_policy(name, answer, attribution, ev, no_answer=NO_ANSWER, refused="don't cover" in answer,
                        greeting=VOICE[0], sign_off=VOICE[1])


INVENTED = "Hey rider! The Cargo K1 costs $3,249 plus a $1,010 load fee. Ride bright! — The Larkfield crew"


def test_strict_replaces_an_invented_price_with_a_quoted_cited_extract_in_the_voice():
    v = policy("strict", INVENTED)
    assert v.outcome == "extract" and v.replaced
    assert v.text.startswith("Hey rider!\n") and v.text.endswith("\nRide bright! — The Larkfield crew")
    assert "\u201cModel: Cargo K1; Price (USD): $3,899\u201d [2]" in v.text
    assert "3,249" not in v.text and "1,010" not in v.text
    assert list(v.used) == [2] and v.groundedness == 0.0


def test_strict_ships_a_supported_answer_with_server_markers():
    v = policy("strict", "Hey rider! The Cargo K1 costs $3,899 [1]. Ride bright! — The Larkfield crew")
    assert v.outcome == "shipped" and not v.replaced
    assert v.text == "Hey rider! The Cargo K1 costs $3,899 [2]. Ride bright! — The Larkfield crew"


def test_strict_gives_the_no_answer_text_when_no_evidence_matches():
    v = policy("strict", "We sell electric scooters for $999.", question="Do you sell scooters?")
    assert v.outcome == "no_answer" and v.text == NO_ANSWER and v.used == {}


def test_strict_answers_a_model_refusal_with_the_extract_when_the_evidence_covers_the_question():
    v = policy("strict", "Sorry, our docs don't cover that.")
    assert v.outcome == "extract" and "$3,899" in v.text and v.used


def test_strict_keeps_a_model_refusal_as_the_no_answer_text_when_no_evidence_covers_the_question():
    v = policy("strict", "Sorry, our docs don't cover that.", question="Do you sell scooters?")
    assert v.outcome == "refused" and v.text == NO_ANSWER and v.used == {} and v.replaced  # logged as replaced


def test_annotate_keeps_the_answer_and_marks_unsupported_sentences():
    v = policy("annotate", "The Cargo K1 costs $3,249. The Fold F1 costs $1,799.")
    assert v.outcome == "annotated"
    assert v.text == "The Cargo K1 costs $3,249 [unverified]. The Fold F1 costs $1,799 [2]."


def test_off_ships_the_answer_as_written():
    v = policy("off", INVENTED)
    assert v.outcome == "shipped" and v.text == INVENTED


def test_strict_gives_the_no_answer_text_when_the_best_extract_answers_another_question():
    # "Cargo K1" matches the price row, but "insurance partner" (the rare, key terms) is nowhere
    question = "Which insurance partner covers the Cargo K1?"
    ev = evidence(question)
    answer = "Our insurance partner is Acme Mutual."
    v = apply_policy("strict", answer, attribute(answer, [e.full_text for e in ev]), ev, no_answer=NO_ANSWER,
                     refused=False, question=question, min_coverage=0.5)
    assert v.outcome == "no_answer" and v.text == NO_ANSWER
    v = apply_policy("strict", answer, attribute(answer, [e.full_text for e in ev]), ev, no_answer=NO_ANSWER,
                     refused=False, question="What does the Cargo K1 cost?", min_coverage=0.5)
    assert v.outcome == "extract"


def test_strict_quotes_no_extract_without_a_figure_to_a_how_much_or_how_many_question():
    answer = "We have covered 12,000 frames for their original owners."  # invented
    for question, outcome in [("How many frames are covered for the original owner?", "no_answer"),
                              ("Are frames covered for the original owner?", "extract"),
                              ("How much does the Cargo K1 cost?", "extract")]:
        ev = evidence(question)
        v = apply_policy("strict", answer, attribute(answer, [e.full_text for e in ev]), ev, no_answer=NO_ANSWER,
                         refused=False, question=question, min_coverage=0.5)
        assert v.outcome == outcome, (question, v.text)
    returns = [P("Returns are free of charge for every order.", "returns.md")]  # an amount without a digit
    question = "How much is a return?"
    answer = "A return is $20."  # invented
    v = strict(question, returns, answer)
    assert v.outcome == "extract" and "free of charge" in v.text


def test_strict_does_not_ship_a_true_sentence_without_an_amount_to_a_how_much_question():
    question = "How much is the Cargo K1?"
    ev = evidence(question)
    answer = "The Cargo K1 is one of our models."  # true, supported, and no answer to the question
    v = apply_policy("strict", answer, attribute(answer, [e.full_text for e in ev]), ev, no_answer=NO_ANSWER,
                     refused=False, question=question, min_coverage=0.5)
    assert v.outcome == "extract" and "$3,899" in v.text
    v = apply_policy("strict", answer, attribute(answer, [e.full_text for e in ev]), ev, no_answer=NO_ANSWER,
                     refused=False, question="Is the Cargo K1 one of your models?", min_coverage=0.5)
    assert v.outcome == "shipped"


def test_how_many_wants_a_count_and_how_much_is_wants_a_price():
    from tenor.verify import states_amount

    many = "How many bikes did you sell last year?"
    assert not states_amount("The first year of the tracker service is free.", many)  # a price, not a count
    assert not states_amount("After the first year, the tracker costs $79 per year.", many)
    assert states_amount("We sold 1,200 bikes.", many) and states_amount("We sold twelve.", many)
    price = "How much is a replacement battery for the Cargo K1?"
    assert not states_amount("The Cargo K1's 700 Wh battery is sized for heavy loads.", price)  # a figure, no price
    assert states_amount("A 700 Wh battery costs $699.", price) and states_amount("It is free of charge.", price)
    assert states_amount("Fitting is included.", price) and states_amount("There is no charge.", price)
    assert not states_amount("The plan includes everything you need.", price)  # "includes" is no price
    serving = "And what does that come to per serving?"  # what else the plan has is no price of it
    assert not states_amount("It cooks 3 recipes a week for 4 people, with standard delivery included.", serving)
    assert states_amount("Standard delivery is included.", serving) and states_amount("Delivery: included", serving)
    assert states_amount("Every box comes with delivery included.", "How much is delivery?")  # the thing asked about
    assert states_amount("All plans come with free installation included.", "What do you charge for the router?")
    assert not states_amount("Charge it before a long ride.", price)
    assert not states_amount("Our gluten-free sourdough is baked fresh.", "How much does the gluten-free loaf cost?")
    assert not states_amount("Feel free to ask.", price) and states_amount("The fee is waived.", price)
    assert states_amount("It weighs 17 kg.", "How much does the Fold F1 weigh?")  # not a price question
    for text in ("10% off", "USD 15", "15 CAD", "15,00 \u20ac", "99\u00a2", "Model: Fold F1; Price (USD): 1,799"):
        assert states_amount(text, "How much is the Fold F1?"), text  # prices in other shapes
    assert states_amount("30 days", "How much time do I have to pay?")  # "pay" alone is no price question
    assert states_amount("You get one free tune-up.", "How many free tune-ups do I get?")
    assert not states_amount("Design and service sit under one roof at Larkfield.", many)
    for text in ("Fold F1: 14 999 SEK", "\u20b91,49,999"):  # other companies' currencies
        assert states_amount(text, "How much is the Fold F1?"), text
    assert states_amount("A4 black and white: 5p per page", "How much is each black and white page?")  # pence
    assert not states_amount("Videos play at 1080p.", "How much is the video course?")
    assert not states_amount("We are open until 5p.m.", "How much is the eye test?")
    assert not states_amount("Open 9-5p on weekdays.", "How much is the eye test?")
    assert not states_amount("It is one fold away.", "How many gears does the Fold F1 have?")  # "one" counts no name
    assert states_amount("We give 1% of our revenue.", "How much of your revenue goes to trails?")


def test_what_a_question_asks_is_read_from_its_asking_sentences_and_what_do_you_charge_asks_a_price():
    from tenor.verify import asks_for_something, states_asked

    lost_key = "I've lost the key to the padlock on my locker. What do you charge to cut it off?"
    assert not states_asked("A member of staff cuts the lock off for you.", lost_key)  # no price
    assert states_asked("We cut the lock off for a fee of \u00a325.", lost_key)
    for price in ("What does the four-person box cost each week?", "There are six of us. What would we pay per plate?",
                  "What's a return ticket going to set me back?", "What are your prices for students?",
                  "And what does that come to per serving?", "What would it work out at for a family?",
                  "What does it come to with VAT?", "What does that come to?", "What does it cost with delivery?",
                  "What is the delivery price?", "What's the fee?", "What's the damage for the 3D scan?",
                  "What's the least I can pay each month for daily contacts?",
                  "What do the super-thin 1.74 lenses add to the bill?", "What's the minimum I need to pay?",
                  "What's the most I'd have to pay?", "What's the minimum payment each month?",
                  "So what's the damage then?", "What does the insurance add to my monthly bill?"):
        assert asks_for_something(price) and not states_asked("It suits a busy family.", price), price
        assert states_asked("It is $4.99 a plate.", price), price
    for no_price in ("What happens if I don't pay?", "What are the payment options?", "Is that going to cost me?",
                     "What will happen if I don't pay?", "What do I need to charge the battery?",
                     "What's the best way to charge the battery?", "What is the charge time for the battery?",
                     "What's included in the price?", "What is the price match policy?", "What does the fee cover?",
                     "What do I pay with?", "Will this set me back a week on delivery?",
                     "What does the plan come with?", "What does it come to mean?",
                     "What will the courier come to collect?", "What's the damage to the frame covered by?",
                     "What's the most I can carry?", "What does the scan add to the test?",
                     "What's the most people I can pay for at once?", "What's the damage on my bike covered by?",
                     "What does the app add to the bill splitting feature?"):
        assert not asks_for_something(no_price), no_price  # a consequence, a how-to, a yes or no, a battery's charge
    for price in ("What fees do you charge for late returns?", "What price is the Duo plan?",
                  "Okay, so what does it cost?", "What is the cost of delivery?", "What's the fee for a late payment?"):
        assert asks_for_something(price) and not states_asked("It suits a busy family.", price), price
    for abbreviated in ("How much is the U.S. shipping?", "When is the St. Ives shop open?"):  # one sentence each
        assert not states_asked("It is on Alder Street.", abbreviated), abbreviated
    two = "What time does the shop open? And how much is parking at the shop?"
    assert states_asked("It opens at 9am.", two) and states_asked("Parking is $3.", two)  # one answered will do
    assert not states_asked("The shop is on Alder Street.", two)
    assert not states_asked("Call us any time.", "Hi there. What's your phone number?")  # asked after a greeting
    for time in ("How early can we get a boat out on Sundays?", "By what time do I have to tell you?",
                 "My box didn't come. What time does the shop open?"):
        assert not states_asked("The shop is on Alder Street.", time) and states_asked("It opens at 07:00.", time), time
    assert states_asked("It was rebuilt.", "It opened in 2019? Is it open to cyclists?")  # the last asks none
    mid = "My gran's 70. Does she pay less than me, and how much one way?"  # the amount is asked mid-sentence
    assert asks_for_something(mid) and not states_asked("Seniors travel at a reduced fare.", mid)
    assert states_asked("Seniors pay \u00a35.50 one way.", mid)
    assert not asks_for_something("I know how much it weighs, so is it foldable?")  # "how much" asks no clause
    assert asks_for_something("Is it free, or how much is it?")
    ring = "What number can I ring to talk to a person?"
    assert not states_asked("Call us any time.", ring) and states_asked("Call 0117 496 0382.", ring)


def test_strict_does_not_ship_an_answer_without_the_price_a_customer_asks_after_setting_the_scene():
    lockers = [P("Lost keys: if you lose your locker key, bring photo ID to reception and a member of staff will "
                 "cut the lock off for you.\n\nIf you lose your locker key, cutting the lock off costs \u00a325.",
                 "lockers.md")]
    question = "I've lost the key to my locker. What do you charge to cut the lock off?"
    answer = "Bring photo ID to reception and a member of staff will cut the lock off for you."  # true, no price
    v = strict(question, lockers, answer)
    assert v.outcome == "extract" and "\u00a325" in v.text, v.text


def test_a_price_asked_for_may_be_in_the_sentence_after_the_point_and_is_quoted_with_it():
    lockers = [P("Lost keys: if you lose your locker key, bring photo ID to reception and a member of staff will "
                 "cut the lock off for you. Lock removal costs \u00a325.\n\nLockers are 40 cm wide.", "lockers.md")]
    question = "I've lost the key to my locker. What do you charge to cut the lock off?"
    v = strict(question, lockers, "A member of staff will cut the lock off for you.")  # true, no price
    assert v.outcome == "extract" and "cut the lock off for you. Lock removal costs \u00a325" in v.text, v.text
    other = [P("Lost keys: if you lose your key, bring photo ID to reception and a member of staff will cut the "
               "padlock off for you. Lockers cost \u00a35 a month.", "lockers.md")]  # the price of another thing
    assert strict(question, other, "A member of staff will cut the padlock off for you.").outcome == "no_answer"


def test_of_two_units_scoring_the_same_the_one_on_the_point_is_quoted_first():
    question = "I ride to work every day. What does the Cargo K1 cost?"
    passages = [P("You can fit two child seats to the Cargo K1. The child seats are an option and cost $149 each.",
                  "cargo-k1-guide.md", "Child seats"),  # ranked first, and its price scores the same
                P("The Cargo K1 is a longtail cargo bike.\n\nPrice: $3,899", "products.md", "Cargo K1")]
    ev = select_evidence(question, passages, 200)
    score = {unit.plain(): s for e in ev for unit, s in zip(e.units, e.scores)}
    assert score["Price: $3,899"] == score["The child seats are an option and cost $149 each."]  # a tie
    text, used = extract_answer(ev, question=question, min_coverage=0.5)
    assert text.index("$3,899") < text.index("$149"), text


def test_a_sentence_introducing_a_table_states_what_the_table_does():
    refunds = P("How much you get back depends on how long before departure you cancel:\n\n"
                "| When you cancel | Refund |\n|---|---|\n| 7 days or more before departure | Full refund |\n"
                "| Between 48 hours and 7 days before departure | 50% refund |\n"
                "| Less than 48 hours before departure | No refund |", "cancelling.md", "Cancelling your booking")
    question = "How much do I get back if I cancel my booking three days before departure?"  # an amount
    v = strict(question, [refunds], "You get it all back.")
    assert v.outcome == "extract" and "depends on how long before departure you cancel: When you cancel" in v.text
    assert "50% refund" in v.text, v.text  # the whole table, not its first row


def test_an_extract_is_held_to_what_a_question_asks_not_to_the_scene_it_sets_first():
    plans = [P("| Plan | Cooks for | Weekly price |\n|---|---|---|\n| The Duo | two people | $59.94 |\n"
               "| The Family | four people | $99.84 |", "plans.md")]
    scene = "We've just moved in together and both work late shifts. "  # words no document has
    v = strict(scene + "What would the plan for two people cost each week?", plans, "We'd love to cook for you both.")
    assert v.outcome == "extract" and "$59.94" in v.text, v.text
    v = strict(scene + "What would that cost?", plans, "We'd love to cook for you both.")  # too little asked alone
    assert v.outcome == "no_answer", v.text


def test_strict_replaces_a_true_answer_to_another_question_with_the_extract_that_answers_this_one():
    question = "How do I make a warranty claim?"
    ev = evidence(question)
    answer = "Motors and batteries are covered for 2 years from delivery."  # supported, about something else
    v = apply_policy("strict", answer, attribute(answer, [e.full_text for e in ev]), ev, no_answer=NO_ANSWER,
                     refused=False, question=question, min_coverage=0.5)
    assert v.outcome == "extract" and "warranty@larkfield.example" in v.text
    answer = "Claims go to warranty@larkfield.example."  # answers it: covers the question as well as the extract
    v = apply_policy("strict", answer, attribute(answer, [e.full_text for e in ev]), ev, no_answer=NO_ANSWER,
                     refused=False, question=question, min_coverage=0.5)
    assert v.outcome == "shipped", v.text


def test_an_answer_covers_the_question_with_its_passages_headings_and_what_its_figures_are():
    question = "What's the phone number for support?"
    contact = [P("The phone support line closes an hour early on Fridays.\n\nSupport: (503) 555-0142.",
                 "contact.md", section="Contact Us")]
    answer = "Our support team takes calls at (503) 555-0142."  # a phone number is what "phone" asks
    v = strict(question, contact, answer)
    assert v.outcome == "shipped", v.text
    answer = "The phone support line closes an hour early on Fridays."  # true, no number
    v = strict(question, contact, answer)
    assert v.outcome == "extract" and "(503) 555-0142" in v.text, v.text
    question = "What is the maximum load of the Cargo K1?"
    cargo = [P("The Cargo K1 carries up to 180 kg in total.", "products.md", section="Load Limits"),
             P("The Cargo K1 has a long deck for heavy loads.", "products.md", section="Cargo K1")]
    answer = "The Cargo K1 carries up to 180 kg in total."  # under "Load Limits": about its load
    v = strict(question, cargo, answer)
    assert v.outcome == "shipped", v.text


def test_how_long_names_nothing_an_answer_must_repeat():
    policy = [P("This policy explains what our warranty covers and for how long.\n\n"
                "Motors and batteries are covered for 2 years from delivery.", "warranty.pdf")]
    answer = "Motors and batteries are covered for 2 years from delivery."
    v = strict("How long is the warranty?", policy, answer)  # "long" is the question's form, not its topic
    assert v.outcome == "shipped", v.text


def test_when_wants_a_time_and_what_happens_when_does_not():
    from tenor.verify import states_asked

    founded = "Who founded Larkfield Cycles, and when?"
    assert not states_asked("Our founders are passionate riders.", founded)
    assert not states_asked("Write to hello@larkfield2014.example.", founded)  # an address holds no time
    assert states_asked("Maya Okafor founded it in 2014.", founded)
    for text in ("We open on Saturdays.", "Orders ship the same day.", "It arrives in two weeks."):
        assert states_asked(text, "When is the store open?"), text
    assert not states_asked("The store is on Alder Street.", "When does the store open?")
    assert states_asked("It switches off to protect the cells.", "What happens when the battery is cold?")
    assert states_asked("It switches off.", "When I ride in the rain, is the motor safe?")  # "when" as a conjunction
    phone = "What's the phone number for support?"
    assert not states_asked("The phone support line closes an hour early on Fridays.", phone)
    assert states_asked("Call (503) 555-0142.", phone)
    assert not states_asked("Write to us any time.", "What is your email address?")
    assert states_asked("Write to help@larkfield.example.", "What's the email for returns?")
    assert states_asked("The phone line closes at 5.", "Can I phone you on Sundays?")  # asks no number
    assert states_asked("Open Settings > Account to change it.", "How do I change my phone number?")  # a how-to
    assert states_asked("Go to Settings > Email.", "What is the way to update my email address?")
    assert not states_asked("Support is open Mon-Fri 9.00-17.00.", phone)  # a range of times is no phone number
    # "when" about a condition, a price that is no time, "when's"
    assert states_asked("You can cancel in your account settings.", "When can I cancel my subscription?")
    assert states_asked("It arrives within a week.", "When will my order arrive?")
    assert not states_asked("The late fee is $25.", "When is the late fee charged?")
    assert not states_asked("No one can see it.", "When is it visible?")
    assert not states_asked("Everything in the shop is on sale.", "When's the sale?")  # "when's" asks a time too


def test_strict_replaces_an_answer_without_the_time_asked_with_the_extract_that_has_it():
    about = [P("Maya Okafor founded Larkfield Cycles to build bikes she could fix herself.\n\n"
               "Larkfield Cycles was founded in 2014 in Millbrook.", "about.md")]
    question = "Who founded Larkfield Cycles, and when?"
    answer = "Maya Okafor founded Larkfield Cycles to build bikes she could fix herself."  # half an answer
    v = strict(question, about, answer)
    assert v.outcome == "extract" and "2014" in v.text, v.text


def test_how_long_wants_a_duration_the_warranty_s_introduction_does_not_state():
    from tenor.verify import states_asked

    # The server's banner asks this: every unit of the policy names its subject only in the document's
    # name, so all tie, and the introduction came first in the extract, with no duration in it.
    policy = [P("Larkfield Cycles Warranty Policy. We build our e-bikes to last, and we stand behind them. "
                "This policy explains what it covers and how to make a claim.\n\n"
                "The motor and the battery are each covered for 2 years from delivery.", "warranty.pdf")]
    question = "How long is the warranty?"
    text, _ = extract_answer(select_evidence(question, policy, 200), question=question, min_coverage=0.5)
    assert "2 years" in text and "stand behind" not in text, text
    v = strict(question, policy, "We build our e-bikes to last, and we stand behind them.")  # no duration
    assert v.outcome == "extract" and "2 years" in v.text, v.text
    assert not states_asked("A test ride is free; bring photo ID.", "What do I need to bring, and how long is it?")
    assert states_asked("Bring photo ID; rides last about 30 minutes.", "What do I need to bring, and how long is it?")
    assert states_asked("Deliveries take a week.", "How long does delivery take?")
    assert states_asked("The cable is 1.5 m.", "How long is the charging cable?")  # a length
    assert states_asked("Frames are covered for the lifetime of the original owner.", question)
    assert not states_asked("Register your bike after delivery.", question)  # a time word, no duration
    fold = "How long does the Fold F1 take to fold?"
    assert states_asked("It folds in 15 seconds.", fold) and states_asked("It charges in 4-6 hrs.", fold)
    assert states_asked("We have built e-bikes in Bristol since 2014.", "How long have you been in business?")
    # "how long" that asks nothing of the answer: a yes-or-no question about it
    assert states_asked("The warranty covers the original owner.", "Does the warranty depend on how long I've had it?")
    visit = "How long does the installation visit take?"
    assert not states_asked("Someone aged 18 or over must be at home for the whole visit.", visit)  # an age
    assert states_asked("The visit usually takes 2 to 4 hours.", visit)


def test_a_deadline_or_a_day_asked_for_is_a_day_a_date_or_a_clock_time_not_any_time_word():
    from tenor.verify import asks_for_something, states_asked

    # A generated answer to the deadline shipped: "week" and "before" are time words, and no deadline was asked.
    skipping = "Go to Deliveries, pick the week and tap Skip this week. Just do it before your weekly cut-off."
    for question in ("What's the deadline if my deliveries come on Tuesdays?", "What is the cut-off for Thursday boxes?",
                     "My box turns up on Thursdays. What's the latest I can swap my recipes?", "By when do I return it?",
                     "Which days of the week do you deliver?", "On what date does the sale end?"):
        assert asks_for_something(question) and not states_asked(skipping, question), question
        for stated in ("The cut-off is Wednesday at 12:00 noon.", "Book at least 48 hours before departure.",
                       "We deliver from Tuesday to Saturday.", "Lines are open Mon-Fri, 9am to 5pm.",
                       "The sale ends on 31 May.", "Return it by the 28th."):
            assert states_asked(stated, question), (stated, question)
    for question, stated in (("When's the deadline if my deliveries come on Tuesdays?", "Wednesday at 12:00 noon"),
                             ("What's the Christmas cut-off?", "Order by 18 Dec."),
                             ("Until when can I cancel?", "Cancel within 14 days."),
                             ("What's the last day to return it?", "Return it by 31/08/2025."),
                             ("By when do I tell you?", "Give us 3 days' notice.")):
        assert not states_asked(skipping, question) and states_asked(stated, question), question
    assert not states_asked("You may swap recipes in the app.", "What's the latest I can swap?")  # "may" is a word
    assert not states_asked("Keep it out of the sun, and 5 amps will do.", "Which days are you open?")
    for other in ("What's the latest version of the app?", "What day-pass options are there?", "What's the latest?",
                  "What's the cut-off for free delivery?", "What's the cut-off age for child tickets?",
                  "Which day pass should I buy?", "What date format do you use on invoices?"):
        assert not asks_for_something(other), other
    units = [P("Skip any week in the app: go to Deliveries and tap Skip this week.\n\n"
               "To skip a Tuesday delivery, do it by the cut-off: Wednesday at 12:00 noon in the week before.",
               "deliveries.md")]
    question = "What's the deadline to skip a Tuesday delivery?"
    v = strict(question, units, "Go to Deliveries and tap Skip this week.")
    assert v.outcome == "extract" and "12:00 noon" in v.text, v.text


def test_a_labelled_list_item_s_next_sentence_may_state_the_time_asked_for_its_label_names_the_thing():
    from tenor.evidence import split_units
    from tenor.verify import _one_item

    # The item's first sentence names the thing, the next one states when: both are the Direct Debit's.
    billing = [P("Paying\n\n- **Direct Debit**: the easiest way. We collect the payment 10 days after your bill date.\n"
                 "- **Card**: pay by card each month.", "billing.md")]
    question = "When is the Direct Debit taken?"
    text, _ = extract_answer(select_evidence(question, billing, 200), question=question, min_coverage=0.5)
    assert "Direct Debit: the easiest way. We collect the payment 10 days after your bill date." in text, text
    units = split_units("- **Frames**: lifetime. Motors: 2 years.\n- Batteries: 2 years. We replace one that fails.\n"
                        "- Frames: lifetime. Motors last 2 years.\n\nFrames are ours. We fit motors.")
    assert not _one_item(units[0], units[1])  # "Motors: 2 years" is under a label of its own
    assert _one_item(units[2], units[3])  # what we do about the item's thing
    assert not _one_item(units[4], units[5])  # another thing, named first
    assert not _one_item(units[6], units[7])  # not a list item


def test_a_loop_is_a_four_word_sequence_three_times():
    from tenor.answers import has_loop

    assert has_loop("Ride on! Ride on! Ride on! Ride on! Ride on!")
    assert has_loop("Battery: 10 days Battery: 10 days Battery: 10 days Battery: 10 days")
    assert not has_loop("Battery: 10 days Battery: 10 days. Ride bright!")
    assert not has_loop("The frame is covered for life, and the motor for two years.")


def test_an_answer_repeats_itself_when_a_line_comes_back_not_when_list_lines_share_words():
    from tenor.answers import has_loop, repeats_itself

    assert repeats_itself("Ride on! Ride on! Ride on!") and repeats_itself("It is ride on ride on ride on now")
    assert repeats_itself("- A bike can be returned.\n- A bike can be returned.")
    assert repeats_itself("- A faulty bike is returned without the fee, and faults are explained in our policy.\n"
                          "- A damaged bike is returned without the fee, and faults are explained in our policy.")
    hours = "Monday 8 am to 6 pm, Tuesday 8 am to 6 pm, Wednesday 8 am to 6 pm."
    plans = "Basic: 5 GB of storage per user. Team: 50 GB of storage per user. Business: 500 GB of storage per user."
    for text in (hours, plans):
        assert has_loop(text) and not repeats_itself(text), text  # the eval's metric counts it; the policy ships it


def test_strict_does_not_ship_a_loop_of_supported_lines():
    question = "What is the warranty on motors?"
    ev = evidence(question)
    line = "- Motors and batteries are covered for 2 years from delivery.\n"
    answer = "Our warranty:\n" + line * 3  # every line supported, the answer a loop
    v = apply_policy("strict", answer, attribute(answer, [e.full_text for e in ev]), ev, no_answer=NO_ANSWER,
                     refused=False, question=question, min_coverage=0.5)
    assert v.outcome == "extract" and v.text.count("2 years") == 1, v.text


def test_strict_replaces_a_figure_that_is_no_price_with_the_priced_extract():
    question = "How much is the Cargo K1?"
    cargo = [P("The Cargo K1 has a 700 Wh battery for heavy loads.\n\nThe Cargo K1 costs $3,899.", "products.md")]
    answer = "The Cargo K1 has a 700 Wh battery for heavy loads."  # supported, a figure, no price
    v = strict(question, cargo, answer)
    assert v.outcome == "extract" and "$3,899" in v.text


HELP = P("Q: Can I pause my subscription?\nA: Yes. A pause lasts up to 3 months.\n\n"
         "Never share your login. Sharing it suspends the account for 30 days.\n\n"
         "| Plan | Price |\n|---|---|\n| Basic | $9 |\n| Pro | $19 |", "help.md")


def test_an_extract_quotes_the_sentence_that_completes_its_point():
    """The question's words are in one sentence, its answer in the next: an FAQ's
    answer line, a rule's consequence. A paragraph's end and a table row end the quote."""
    answer = "You can, for 12 months."  # invented
    for question, quote in [
        # an FAQ's question and its answer's first sentence are one unit; the answer goes on
        ("Can I pause my subscription?", "Q: Can I pause my subscription? A: Yes. A pause lasts up to 3 months."),
        ("Can I share my login?", "Never share your login. Sharing it suspends the account for 30 days."),
        ("How long does a pause last?", "A pause lasts up to 3 months."),  # the paragraph ends there
        ("How much is the Pro plan?", "Plan: Pro; Price: $19"),  # a row, not the rows after it
    ]:
        ev = select_evidence(question, [HELP], 200)
        v = apply_policy("strict", answer, attribute(answer, [e.full_text for e in ev]), ev, no_answer=NO_ANSWER,
                         refused=False, question=question, min_coverage=0.5)
        assert v.outcome == "extract" and f"\u201c{quote}\u201d [1]" in v.text, (question, v.text)
        assert v.used[1]["sentences"][0] == quote


def test_an_extract_quotes_what_a_sentence_ending_in_a_colon_introduces():
    care = P("Storing your battery\n\nIf you will not ride for more than two weeks:\n\n"
             "1. Charge the battery to between 40% and 60%.\n2. Keep it indoors.", "battery.md")
    question = "How should I store my battery if I will not ride for two weeks?"
    answer = "Keep it in a cold garage for two weeks."  # invented
    v = strict(question, [care], answer)
    assert "weeks: Charge the battery to between 40% and 60%; Keep it indoors.\u201d" in v.text, v.text
    bakery = P("## Delivery\n\nWe deliver cakes to these areas:\n\n## Payment\n\nWe take cash only.", "bakery.md")
    question = "Which areas do you deliver cakes to?"
    v = strict(question, [bakery], answer)
    assert "cash" not in v.text, v.text  # a colon introduces nothing under the next heading


def test_an_extract_quotes_the_whole_list_when_its_best_matches_are_two_of_its_items():
    app = P("## What the app does\n\n- Ride stats: see your trips.\n- Tuning: adjust the assist. It stays legal.\n"
            "- Alarm: arm it when you park.\n- Updates: install firmware.\n\nThe app is free.", "app.md")
    question = "What can the app do?"
    answer = "It can fly the bike."  # invented
    v = strict(question, [app], answer)
    assert ("\u201cWhat the app does: Ride stats: see your trips; Tuning: adjust the assist. It stays legal; "
            "Alarm: arm it when you park; Updates: install firmware.\u201d [1]") in v.text, v.text
    assert "The app is free" not in v.text and v.text.count("\u201c") == 1


def test_an_extract_brings_no_next_question_no_run_on_block_and_no_sentence_twice():
    faq = P("Q: Do gift cards expire?\nA: Gift cards never expire.\nQ: Can I pay by invoice?\nA: Yes.\n\n"
            "Returns are free. " + "Within thirty days of delivery you may send back any bike, any accessory, "
            "any part and any gift card bought from us, in its original packaging, with the order number, "
            "the reason for the return and the serial number written clearly on the label we e-mail you.",
            "faq.md")
    answer = "They last 12 months."  # invented
    for question, quotes in [
        # the question and its answer, one unit; the answer's next line is the next question, not quoted
        ("Do gift cards expire?", ["Q: Do gift cards expire? A: Gift cards never expire."]),
        ("Are returns free?", ["Returns are free."]),  # the next sentence runs on for 60+ tokens
    ]:
        ev = select_evidence(question, [faq], 200)
        v = apply_policy("strict", answer, attribute(answer, [e.full_text for e in ev]), ev, no_answer=NO_ANSWER,
                         refused=False, question=question, min_coverage=0.5)
        assert v.outcome == "extract", (question, v.text)
        assert v.used[1]["sentences"] == quotes, (question, v.text)


def quitting(cancel_closeness: float, answer: str = "Yes, you can quit for a $10 fee."):
    """'Can I quit whenever I like?' over a plan page that says 'cancel': the strict policy
    over its evidence (cancel's sentence ``cancel_closeness`` close) and ``answer`` (by default
    an unsupported one)."""
    question = "Can I quit whenever I like?"
    plans = P("Boxes are delivered on weekdays. You can cancel your plan any time before your weekly cut-off.",
              "plans.md")
    ev = select_evidence(question, [plans], 200,
                         closeness=lambda texts: [cancel_closeness if "cancel" in t else 0.1 for t in texts])
    attribution = attribute(answer, [e.full_text for e in ev])

    def ships(**rules):
        return apply_policy("strict", answer, attribution, ev, no_answer=NO_ANSWER, refused=False,
                            question=question, min_coverage=0.5, **rules)
    return ships


def test_strict_quotes_a_sentence_that_means_what_is_asked_in_other_words():
    ships = quitting(0.8)
    close = ships(min_similarity=0.7)
    assert close.outcome == "extract" and "You can cancel your plan any time" in close.text
    assert ships(min_similarity=0.9).outcome == "no_answer" and ships().outcome == "no_answer"  # words only


def saying(read: list[str]):
    """A stand-in reader: ``saying(read)(says)`` says ``says`` of every quote, recorded in ``read``."""
    def reader(says: bool):
        def reads(quote: str) -> bool:
            read.append(quote)
            return says
        return reads
    return reader


def test_strict_quotes_what_the_reader_that_let_the_question_in_says_answers_it():
    ships, read = quitting(0.5), []
    reader = saying(read)
    assert ships(min_similarity=0.7).outcome == "no_answer"  # neither words nor meaning (0.5 < 0.7) say it
    yes = ships(min_similarity=0.7, reads=reader(True))
    assert yes.outcome == "extract" and "You can cancel your plan any time" in yes.text
    assert read == ["You can cancel your plan any time before your weekly cut-off."]  # the quote is read, not all
    assert ships(min_similarity=0.7, reads=reader(False)).outcome == "no_answer"


def test_for_a_question_words_let_in_the_reader_confirms_the_words_best_quote_after_the_models_answer_fails():
    """The words let "Can I quit whenever I like?" in, and their best quote says too little of it
    by words: the reader reads that quote, and only it, once the model's answer fails the checks."""
    ships, read = quitting(0.5), []
    confirms = saying(read)
    assert ships().outcome == "no_answer"
    yes = ships(confirms=confirms(True))
    assert yes.outcome == "extract" and "You can cancel your plan any time" in yes.text
    assert read == ["You can cancel your plan any time before your weekly cut-off."]
    read.clear()
    assert ships(confirms=confirms(False)).outcome == "no_answer"
    assert len(read) == 1  # no other unit is read: the reader confirms the words' pick, it does not choose one
    read.clear()
    close = ships(min_similarity=0.4, confirms=confirms(False))  # meaning says the quote answers: nothing is read
    assert close.outcome == "extract" and read == []
    supported = quitting(0.5, answer="You can cancel your plan any time before your weekly cut-off.")
    assert supported(confirms=confirms(True)).outcome == "shipped" and read == []  # the model's answer passes


def test_the_reader_picks_the_quote_and_it_ships_before_the_models_answer():
    """A paraphrase the reader let in: among the units, in score order, the first whose quote it
    says answers is quoted, even below others by words; and it ships instead of the model's
    answer, which passes every check with a true figure from the wrong row."""
    question = "There are six of us at home. What would we pay per plate?"
    plans = P("| Plan | Cooks for | Price per serving |\n|---|---|---|\n| The Duo | 2 people | $5.99 |\n"
              "| The Family | 4 people | $4.99 |\n| The Big Table | 6 people | $3.99 |\n\nPlates are recyclable.",
              "plans.md")
    closer = {"Duo": 0.6, "Family": 0.55, "Big Table": 0.5}  # the embedder ranks the rows the wrong way round
    ev = select_evidence(question, [plans], 200,
                         closeness=lambda texts: [next((c for k, c in closer.items() if k in t), 0.1) for t in texts])
    answer = "The Duo costs $5.99 per serving."  # true, supported, and no answer for six
    attribution = attribute(answer, [e.full_text for e in ev])
    assert not attribution.unsupported
    read: list[str] = []

    def reads(quote: str) -> bool:
        read.append(quote)
        return "6 people" in quote

    def ships(reads=None):
        return apply_policy("strict", answer, attribution, ev, no_answer=NO_ANSWER, refused=False,
                            question=question, min_coverage=0.5, reads=reads)
    assert ships().outcome == "shipped"  # without the reader the model's checked answer ships
    picked = ships(reads)
    assert picked.outcome == "extract" and "$3.99" in picked.text and "$5.99" not in picked.text, picked.text
    assert len(read) > 1 and "6 people" in read[-1]  # read in score order until one answers
    read.clear()
    assert ships(lambda quote: read.append(quote) or False).outcome == "shipped"  # no quote answers: the model's
    assert 1 < len(read) <= 7  # the best units' quote, then six units one at a time


def test_a_sentence_that_introduces_a_table_is_quoted_and_read_with_the_whole_table():
    question = "How many plant-based meals are on each week's menu?"
    menu = P("Each week's menu of 30 recipes always includes at least:\n\n| Preference | Recipes |\n|---|---|\n"
             "| Vegetarian | 10 |\n| Vegan | 6 |\n| Pescatarian | 4 |\n\nA new menu goes live every Tuesday.",
             "menu.md")
    ev = select_evidence(question, [menu], 200)
    answer = "We have 12 plant-based meals."  # invented
    read: list[str] = []

    def reads(quote: str) -> bool:
        read.append(quote)
        return "Vegan" in quote

    v = apply_policy("strict", answer, attribute(answer, [e.full_text for e in ev]), ev, no_answer=NO_ANSWER,
                     refused=False, question=question, min_coverage=0.5, reads=reads)
    assert v.outcome == "extract", v.text
    quote = ("Each week's menu of 30 recipes always includes at least: "
             "Preference | Recipes: Vegetarian | 10 / Vegan | 6 / Pescatarian | 4")
    assert quote in v.text and read[0] == quote, v.text  # the column names once, not in every row


def test_the_reader_reads_the_point_and_the_extract_quotes_the_sentence_after_it_too():
    question = "I've never ordered before. Is there any deal on my first delivery?"
    offer = P("Your first box.\n\nNew customers get 40% off their first box. The discount applies to the weekly "
              "price only, not to add-ons.", "plans.md")
    ev = select_evidence(question, [offer], 200, closeness=lambda texts: [0.5 for _ in texts])
    answer = "Yes, 60% off!"  # invented
    read: list[str] = []

    def reads(quote: str) -> bool:  # a sentence on something else, read with it, dilutes the read
        read.append(quote)
        return "40%" in quote and "add-ons" not in quote

    v = apply_policy("strict", answer, attribute(answer, [e.full_text for e in ev]), ev, no_answer=NO_ANSWER,
                     refused=False, question=question, min_coverage=0.5, reads=reads)
    assert v.outcome == "extract", (v.text, read)
    assert "New customers get 40% off their first box. The discount applies to the weekly price only" in v.text
    assert all("add-ons" not in quote for quote in read)


def test_without_a_reader_a_sentence_that_introduces_a_table_is_quoted_with_it():
    question = "What does each week's menu always include?"
    menu = P("Each week's menu of 30 recipes always includes at least:\n\n| Preference | Recipes |\n|---|---|\n"
             "| Vegetarian | 10 |\n| Vegan | 6 |", "menu.md")
    ev = select_evidence(question, [menu], 200)
    answer = "Lots of burgers."  # states no fact: the extract ships
    v = apply_policy("strict", answer, attribute(answer, [e.full_text for e in ev]), ev, no_answer=NO_ANSWER,
                     refused=False, question=question, min_coverage=0.5)
    assert v.outcome == "extract", v.text
    assert "always includes at least: Preference | Recipes: Vegetarian | 10 / Vegan | 6\u201d" in v.text, v.text


SERVICING = P("| Service | What we do | Price |\n|---|---|---|\n"
              "| Basic tune-up | Gears and brakes adjusted | $89 |\n"
              "| Full overhaul | Every part stripped, cleaned and regreased | $249 |\n"
              "| E-bike motor check-up | Motor diagnostics and a firmware update | $45 |", "servicing.md",
              "Workshop > Service prices")


def names_meaning(closer: dict[str, float]):
    """A stand-in for the embedder's closeness to the question: each name in ``closer`` as given, others 0.2."""
    return lambda: (lambda texts: [next((c for k, c in closer.items() if k in t), 0.2) for t in texts])


def test_of_a_table_the_words_found_the_row_its_name_means_is_quoted():
    question = "What's the price of a normal service check?"  # "check" is in the motor check-up's name only
    ev = select_evidence(question, [SERVICING], 200)
    assert extract_answer(ev, question=question, min_coverage=0.5)[0].count("E-bike motor check-up") == 1
    text, used = extract_answer(ev, question=question, min_coverage=0.5,
                                meaning=names_meaning({"Basic tune-up": 0.55, "E-bike motor": 0.4}))
    assert "$89" in text and "$45" not in text, text
    assert used[1]["sentences"] == ["Service: Basic tune-up; What we do: Gears and brakes adjusted; Price: $89"]
    text, _ = extract_answer(ev, question=question, min_coverage=0.5,  # a name no clearer in meaning keeps the row
                             meaning=names_meaning({"Basic tune-up": 0.43, "E-bike motor": 0.4}))
    assert "E-bike motor check-up" in text and "$89" not in text, text
    text, _ = extract_answer(ev, question=question, min_coverage=0.5,  # nor a name that hardly means it at all
                             meaning=names_meaning({"Basic tune-up": 0.28, "E-bike motor": 0.1}))
    assert "E-bike motor check-up" in text and "$89" not in text, text


def test_a_table_the_reader_confirms_for_a_question_words_let_in_is_read_at_the_row_that_ships():
    question = "What's the price of a normal service check?"
    ev = select_evidence(question, [SERVICING], 200)
    read: list[str] = []
    text, _ = extract_answer(ev, question=question, min_coverage=0.99, confirms=lambda quote: read.append(quote) or True,
                             meaning=names_meaning({"Basic tune-up": 0.55, "E-bike motor": 0.4}))
    assert "$89" in text and "$45" not in text, text  # the words' row gives way to the row its name means...
    assert len(read) == 1 and "Basic tune-up" in read[0] and "E-bike motor" not in read[0]  # ...which is read
    assert extract_answer(ev, question=question, min_coverage=0.99, confirms=lambda quote: "$45" in quote,
                          meaning=names_meaning({"Basic tune-up": 0.55, "E-bike motor": 0.4})) is None
    assert extract_answer(ev, question=question, min_coverage=0.99) is None


def test_a_row_the_words_found_by_what_it_says_is_kept_whatever_other_names_mean():
    question = "What's the price of a firmware update?"  # in what the motor check-up does, not in its name
    ev = select_evidence(question, [SERVICING], 200)
    text, _ = extract_answer(ev, question=question, min_coverage=0.5,
                             meaning=names_meaning({"Full overhaul": 0.6, "E-bike motor": 0.3}))
    assert "$45" in text and "$249" not in text, text


def test_a_row_named_by_a_figure_of_the_question_is_quoted_and_a_row_holding_one_is_kept():
    lenses = P("| Lens option | Extra per pair |\n|---|---|\n| Ultra-thin lenses (1.67 index) | £65 |\n"
               "| Thinnest lenses (1.74 index) | £110 |\n| Bifocals | £59 |", "lenses.md", "Lens options and prices")
    question = "What do the thin 1.74 lenses cost extra?"
    ev = select_evidence(question, [lenses], 200)
    same = names_meaning({"lenses": 0.6})  # both names mean the question as much
    assert "£65" in extract_answer(ev, question=question, min_coverage=0.5)[0]  # words: "thin", and "74"
    text, _ = extract_answer(ev, question=question, min_coverage=0.5, meaning=same)
    assert "Thinnest lenses (1.74 index); Extra per pair: £110" in text and "£65" not in text, text
    question = "Do the 1.67 lenses cost extra?"  # the row holding the figure asked about stays, whatever names mean
    ev = select_evidence(question, [lenses], 200)
    text, _ = extract_answer(ev, question=question, min_coverage=0.5, meaning=names_meaning({"Bifocals": 0.9}))
    assert "£65" in text and "£59" not in text, text


def test_a_sentence_inside_a_list_item_is_quoted_with_what_it_goes_on_from():
    guests = P("Members are welcome to bring guests.\n\n"
               "- Register each guest in the app before they arrive.\n"
               "- A guest can stay for up to 4 hours a day. Anyone staying longer, or working at a desk,\n"
               "  needs their own day pass ($25).\n"
               "- You are responsible for your guests.", "house-rules.txt", "Guests")
    question = "Does a visitor staying longer need their own day pass?"
    ev = select_evidence(question, [guests], 200)
    text, used = extract_answer(ev, question=question, min_coverage=0.5)
    assert ("A guest can stay for up to 4 hours a day. Anyone staying longer, or working at a desk, needs their own "
            "day pass ($25).") in text, text
    assert "Register" not in text and "responsible" not in text, text  # the item, not the list


def test_a_row_stays_when_the_question_names_it_or_a_figure_in_it_and_two_rows_the_words_found_stay_two():
    question = "What does the full overhaul cost?"  # named in full
    ev = select_evidence(question, [SERVICING], 200)
    text, _ = extract_answer(ev, question=question, min_coverage=0.5, meaning=names_meaning({"Basic tune-up": 0.9}))
    assert "$249" in text and "$89" not in text, text
    question = "How much more is the big overhaul than the tune-up?"  # two rows found, neither named in full
    ev = select_evidence(question, [SERVICING], 200)
    for closer in ("Basic tune-up", "E-bike motor"):  # a row the words found, or a third one
        text, _ = extract_answer(ev, question=question, min_coverage=0.5, meaning=names_meaning({closer: 0.9}))
        assert "$249" in text and "$89" in text and "$45" not in text, (closer, text)
    passes = P("| Membership | Print pages a day | Price |\n|---|---|---|\n| Day Pass | 10 | £25 |\n"
               "| Hot Desk | 50 | £189 |", "memberships.md")
    question = "What does the membership with 10 print pages a day cost?"  # the figure is in the Day Pass row
    ev = select_evidence(question, [passes], 200)
    text, _ = extract_answer(ev, question=question, min_coverage=0.5, meaning=names_meaning({"Hot Desk": 0.9}))
    assert "£25" in text and "£189" not in text, text


def test_a_row_gives_way_to_another_the_words_found_when_the_question_names_that_one_in_full():
    plans = P("| Membership | Where you work | Meeting-room hours a month |\n|---|---|---|\n"
              "| Day Pass | Any free hot desk | None |\n| Hot Desk | Any free hot desk, at any site | 2 hours |",
              "memberships.md")
    question = "On the hot desk plan, how many meeting-room hours do I get a month?"
    ev = select_evidence(question, [plans], 200)
    assert extract_answer(ev, question=question, min_coverage=0.5)[0].count("Membership:") == 2  # the words: both
    text, _ = extract_answer(ev, question=question, min_coverage=0.5,
                             meaning=names_meaning({"Hot Desk": 0.6, "Day Pass": 0.3}))
    assert "Membership: Hot Desk" in text and "Day Pass" not in text, text


def test_the_row_the_reader_read_is_quoted_whatever_names_mean():
    question = "What's the price of a normal service check?"
    ev = select_evidence(question, [SERVICING], 200)
    text, _ = extract_answer(ev, question=question, min_coverage=0.99, reads=lambda quote: "$45" in quote,
                             meaning=names_meaning({"Basic tune-up": 0.9}))
    assert "$45" in text and "$89" not in text, text


def test_strict_ships_no_answer_that_says_less_of_the_question_than_its_evidence():
    """An unseen company's "which of your sites can take a pallet?" shipped the model's supported sentences
    about the complaints procedure: the evidence covers the question in its words, the answer does not,
    and no quote of the words' pick said enough to compare it with."""
    question = "We need to get a pallet dropped off, which of your sites can take it?"
    passages = [P("Pallet deliveries are accepted at Bicester only, where we have a forklift. The charge is £8 per "
                  "pallet. Email deliveries@sparrowgate.co.uk first.", "business.html",
                  section="We take deliveries for you > Pallets"),
                P("If something has gone wrong, talk to your site manager first. If you need to take it further, "
                  "email complaints@example.co.uk.", "contact.md", section="Complaints")]
    v = strict(question, passages, "If something has gone wrong, talk to your site manager first.")
    assert v.outcome == "no_answer", v.text
    # its garbled greeting is backed by the pallet passage's address: that heading says nothing for it
    v = strict(question, passages, "Hello from Sparrowgate.co.uk! If something has gone wrong, talk to your site "
                                   "manager first.")
    assert v.outcome == "no_answer" and 1 in v.attribution.used(), v.text
    v = strict(question, passages, "Our Bicester site takes pallet deliveries, at £8 per pallet.")
    assert v.outcome == "shipped", v.text
