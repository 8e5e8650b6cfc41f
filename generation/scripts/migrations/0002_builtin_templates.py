from django.db import migrations

BUILT_IN = [
    {
        "slug": "tutorial",
        "name": "Tutorial / How-to",
        "description": "Teach one skill step by step, from what you need to a short recap.",
        "sections": [
            {"key": "hook", "title": "Hook", "share": 0.1, "guidance": "Promise the result the viewer will get."},
            {"key": "overview", "title": "What you'll need", "share": 0.1, "guidance": "Tools, ingredients or prerequisites."},
            {"key": "steps", "title": "Step by step", "share": 0.55, "guidance": "One numbered step per key point, in order."},
            {"key": "recap", "title": "Recap", "share": 0.12, "guidance": "Summarise the steps in a sentence or two."},
            {"key": "cta", "title": "Call to action", "share": 0.13, "guidance": "Tell the viewer what to do next."},
        ],
    },
    {
        "slug": "listicle",
        "name": "Listicle",
        "description": "A numbered list of tips, tools or ideas, with a bonus at the end.",
        "sections": [
            {"key": "hook", "title": "Hook", "share": 0.12, "guidance": "Say how many items are coming and why they matter."},
            {"key": "list", "title": "The list", "share": 0.64, "guidance": "One numbered item per key point, most important first."},
            {"key": "bonus", "title": "Bonus", "share": 0.1, "guidance": "One extra item or tip the viewer won't expect."},
            {"key": "cta", "title": "Call to action", "share": 0.14, "guidance": "Ask which item they'll try first."},
        ],
    },
    {
        "slug": "story",
        "name": "Story",
        "description": "A short narrative: setup, conflict, resolution and the lesson.",
        "sections": [
            {"key": "hook", "title": "Hook", "share": 0.12, "guidance": "Open in the middle of the action."},
            {"key": "setup", "title": "Setup", "share": 0.2, "guidance": "Who, where and what was at stake."},
            {"key": "conflict", "title": "Conflict", "share": 0.25, "guidance": "What went wrong or stood in the way."},
            {"key": "resolution", "title": "Resolution", "share": 0.25, "guidance": "How it was resolved."},
            {"key": "lesson", "title": "Lesson", "share": 0.08, "guidance": "The takeaway in one line."},
            {"key": "cta", "title": "Call to action", "share": 0.1, "guidance": "Invite the viewer to share their own story."},
        ],
    },
    {
        "slug": "product-review",
        "name": "Product review",
        "description": "An honest review: first impressions, strengths, weaknesses and a verdict.",
        "sections": [
            {"key": "hook", "title": "Hook", "share": 0.1, "guidance": "The one-line verdict teaser."},
            {"key": "first_impressions", "title": "First impressions", "share": 0.15, "guidance": "Look, feel, price and setup."},
            {"key": "pros", "title": "What works", "share": 0.25, "guidance": "Strengths, with specifics."},
            {"key": "cons", "title": "What doesn't", "share": 0.2, "guidance": "Weaknesses and trade-offs."},
            {"key": "verdict", "title": "Verdict", "share": 0.15, "guidance": "Who should buy it and who shouldn't."},
            {"key": "cta", "title": "Call to action", "share": 0.15, "guidance": "Point to the link or the next review."},
        ],
    },
    {
        "slug": "explainer",
        "name": "Explainer",
        "description": "Answer one question clearly: what it is, how it works, why it matters.",
        "sections": [
            {"key": "hook", "title": "Hook", "share": 0.12, "guidance": "Pose the question in a surprising way."},
            {"key": "question", "title": "The question", "share": 0.13, "guidance": "State precisely what we'll explain."},
            {"key": "how_it_works", "title": "How it works", "share": 0.4, "guidance": "Build the explanation in small steps."},
            {"key": "why_it_matters", "title": "Why it matters", "share": 0.2, "guidance": "Consequences for the viewer."},
            {"key": "cta", "title": "Call to action", "share": 0.15, "guidance": "Suggest what to explore next."},
        ],
    },
    {
        "slug": "news-update",
        "name": "News update",
        "description": "A short, factual update: what happened, why it matters, what's next.",
        "sections": [
            {"key": "hook", "title": "Headline", "share": 0.1, "guidance": "The news in one sentence."},
            {"key": "what_happened", "title": "What happened", "share": 0.3, "guidance": "The facts: who, what, when, where."},
            {"key": "why_it_matters", "title": "Why it matters", "share": 0.25, "guidance": "Impact on the audience."},
            {"key": "whats_next", "title": "What's next", "share": 0.2, "guidance": "What to watch for."},
            {"key": "cta", "title": "Call to action", "share": 0.15, "guidance": "Follow for updates."},
        ],
    },
]


def seed(apps, schema_editor):
    ScriptTemplate = apps.get_model("scripts", "ScriptTemplate")
    for item in BUILT_IN:
        ScriptTemplate.objects.update_or_create(
            slug=item["slug"],
            defaults={
                "name": item["name"],
                "description": item["description"],
                "sections": item["sections"],
                "built_in": True,
            },
        )


def unseed(apps, schema_editor):
    ScriptTemplate = apps.get_model("scripts", "ScriptTemplate")
    ScriptTemplate.objects.filter(slug__in=[t["slug"] for t in BUILT_IN], built_in=True).delete()


class Migration(migrations.Migration):
    dependencies = [("scripts", "0001_initial")]

    operations = [migrations.RunPython(seed, unseed)]
