"""Planning a deploy from a recipe checkout, without Docker."""

import textwrap

import pytest

from ccci.deploy_env import plan_deploy
from ccci.errors import BadInput
from ccci.findings import RecipeProblem

COMPOSE = """\
version: "3.8"
services:
  app:
    image: example/app:1
    networks: [proxy, internal]
    deploy:
      labels:
        - "traefik.http.services.${STACK_NAME}.loadbalancer.server.port=8080"
        - "coop-cloud.${STACK_NAME}.timeout=${TIMEOUT:-120}"
    secrets: [db_password]
secrets:
  db_password:
    external: true
    name: ${STACK_NAME}_db_password_${SECRET_DB_PASSWORD_VERSION}
volumes:
  data:
networks:
  proxy:
    external: true
  internal:
"""
POSTGRES = """\
version: "3.8"
services:
  db:
    image: example/postgres:15
    volumes: [data:/var/lib/postgresql/data]
"""


@pytest.fixture
def recipe(tmp_path):
    (tmp_path / ".env.sample").write_text(textwrap.dedent("""\
        TYPE=app
        DOMAIN=app.example.com
        COMPOSE_FILE="compose.yml"
        COMPOSE_FILE="$COMPOSE_FILE:compose.postgres.yml"
        SECRET_DB_PASSWORD_VERSION=v1 # length=48
    """))
    (tmp_path / "abra.sh").write_text("export APP_CONF_VERSION=v3\n")
    (tmp_path / "compose.yml").write_text(COMPOSE)
    (tmp_path / "compose.postgres.yml").write_text(POSTGRES)
    return tmp_path


def test_plan(recipe):
    plan = plan_deploy(recipe, "app-1.ccci.test", {"FEATURE": "x"})
    assert plan.env["DOMAIN"] == "app-1.ccci.test"
    assert plan.env["STACK_NAME"] == "app-1_ccci_test"
    assert plan.env["APP_CONF_VERSION"] == "v3"
    assert plan.env["FEATURE"] == "x"
    assert plan.compose_files == ["compose.yml", "compose.postgres.yml"]
    assert set(plan.project.services) == {"app", "db"}
    assert (plan.http_service, plan.http_port) == ("app", 8080)
    [secret] = plan.secrets
    assert (secret.name, secret.docker_name, secret.length) == (
        "db_password", "app-1_ccci_test_db_password_v1", 48)


def test_missing_compose_file(recipe):
    (recipe / "compose.postgres.yml").unlink()
    with pytest.raises(BadInput, match=r"compose file compose.postgres.yml not found"):
        plan_deploy(recipe, "a.ccci.test")


def test_invalid_yaml(recipe):
    (recipe / "compose.yml").write_text("services: [unclosed\n")
    with pytest.raises(BadInput, match=r"compose file compose.yml is not valid YAML"):
        plan_deploy(recipe, "a.ccci.test")


def test_a_variable_nothing_sets_is_blank_and_a_warning(recipe):
    """Docker deploys a blank string and warns; so does the plan (it once refused)."""
    (recipe / "compose.postgres.yml").write_text(POSTGRES + '    environment: ["X=${DB_TUNING}"]\n'
                                              + "# ${IN_A_COMMENT}\n")
    plan = plan_deploy(recipe, "a.ccci.test")
    assert plan.project.services["db"]["environment"] == ["X="]
    [warning] = plan.warnings
    assert (warning.code, warning.file, warning.key) == ("CCCI-W201", "compose.postgres.yml",
                                                         "DB_TUNING")


def test_every_error_is_refused_together_with_its_code(recipe):
    (recipe / "compose.postgres.yml").write_text(
        POSTGRES.replace("postgres:15", "postgres:${PG_TAG}")
        + '    environment: ["X=${DB_TUNING:?set DB_TUNING for this host}"]\n')
    with pytest.raises(RecipeProblem) as refused:
        plan_deploy(recipe, "a.ccci.test")
    assert [f.code for f in refused.value.findings] == ["CCCI-E204", "CCCI-E205"]
    text = str(refused.value)
    assert "required variable DB_TUNING is missing a value: set DB_TUNING for this host" in text
    assert "because PG_TAG is not set" in text and "fix: " in text


def test_a_recipe_without_an_http_port_label_deploys_with_a_warning(recipe):
    """Runners and bots serve no HTTP; Docker deploys them, and so does ccci."""
    (recipe / "compose.yml").write_text(COMPOSE.replace("traefik.http.services", "x"))
    plan = plan_deploy(recipe, "a.ccci.test")
    assert (plan.http_service, plan.http_port) == (None, None)
    [warning] = [w for w in plan.warnings if w.code == "CCCI-W208"]
    assert "nothing serves HTTP" in warning.message


def test_extra_env_may_not_override_harness_names(recipe):
    with pytest.raises(BadInput, match=r"may not set DOMAIN"):
        plan_deploy(recipe, "a.ccci.test", {"DOMAIN": "evil.example.com"})


def test_compose_file_outside_recipe(recipe):
    (recipe / ".env.sample").write_text('COMPOSE_FILE="../../etc/compose.yml"\n')
    with pytest.raises(BadInput, match=r"outside the recipe"):
        plan_deploy(recipe, "a.ccci.test")


def test_nested_defaults_in_env_sample_reach_the_deploy_env(recipe):
    sample = recipe / ".env.sample"
    sample.write_text(sample.read_text() + textwrap.dedent("""\
        SMTP_HOST=
        MAIL_FROM="${SMTP_FROM:-${SMTP_USER:-noreply}@${DOMAIN}}"
        RELAY="${SMTP_HOST:-${SMTP_RELAY-localhost}}"
        KEEP_EMPTY="${SMTP_HOST-${SMTP_RELAY-unused}}"
    """))
    env = plan_deploy(recipe, "app-1.ccci.test").env
    assert env["MAIL_FROM"] == "noreply@app-1.ccci.test"
    assert env["RELAY"] == "localhost"
    assert env["KEEP_EMPTY"] == ""


def test_a_nested_default_in_a_compose_file_is_refused_before_deploy(recipe):
    """docker stack deploy would deploy it verbatim: the plan must not guess otherwise."""
    compose = recipe / "compose.yml"
    compose.write_text(COMPOSE.replace("${TIMEOUT:-120}", "${TIMEOUT:-${DEFAULT_TIMEOUT}}"))
    with pytest.raises(BadInput, match=r"compose file compose.yml: services\.app\.deploy\.labels"
                                       r"\[1\]: .*docker stack deploy does not expand it"):
        plan_deploy(recipe, "a.ccci.test", {"DEFAULT_TIMEOUT": "60"})


def _with_smtp_secret(recipe, comment="# generate=false"):
    """A second secret the operator inserts in production (abra's generate=false)."""
    sample = recipe / ".env.sample"
    sample.write_text(sample.read_text() + f"SECRET_SMTP_PASSWORD_VERSION=v1 {comment}\n")


def test_a_secret_the_operator_inserts_gets_a_random_value_and_a_warning(recipe):
    _with_smtp_secret(recipe)
    plan = plan_deploy(recipe, "app-1.ccci.test")
    smtp = next(s for s in plan.secrets if s.name == "smtp_password")
    assert smtp.value_env is None
    [warning] = [w for w in plan.warnings if w.code == "CCCI-W302"]
    assert (warning.file, warning.key) == (".env.sample", "SECRET_SMTP_PASSWORD_VERSION")
    assert "generate=false" in warning.message


def test_secret_values_name_the_variable_never_the_value(recipe, monkeypatch):
    _with_smtp_secret(recipe)
    monkeypatch.setenv("CI_SMTP_PASSWORD", "s3cret-value")
    plan = plan_deploy(recipe, "app-1.ccci.test",
                       secret_sources={"smtp_password": "CI_SMTP_PASSWORD"})
    smtp = next(s for s in plan.secrets if s.name == "smtp_password")
    assert smtp.value_env == "CI_SMTP_PASSWORD"
    assert not [w for w in plan.warnings if w.code == "CCCI-W302"]
    assert "s3cret-value" not in repr(plan.secrets)


@pytest.mark.parametrize(("sources", "words"), [
    ({"smtp_password": "CCCI_TEST_UNSET_VARIABLE"}, "$CCCI_TEST_UNSET_VARIABLE, which is not set"),
    ({"smpt_password": "HOME"}, "names secret smpt_password, which no"),
])
def test_a_secret_value_that_cannot_be_read_is_refused_before_deploy(recipe, sources, words):
    _with_smtp_secret(recipe)
    with pytest.raises(RecipeProblem) as caught:
        plan_deploy(recipe, "app-1.ccci.test", secret_sources=sources)
    [found] = caught.value.findings
    assert (found.code, found.key) == ("CCCI-E304", "SECRET_VALUES")
    assert words in found.message


def test_a_secret_value_from_an_empty_variable_is_refused_before_deploy(recipe, monkeypatch):
    """Docker refuses a secret without data: say so at planning, naming the variable."""
    _with_smtp_secret(recipe)
    monkeypatch.setenv("CCCI_TEST_EMPTY_VARIABLE", "")
    with pytest.raises(RecipeProblem) as caught:
        plan_deploy(recipe, "app-1.ccci.test",
                    secret_sources={"smtp_password": "CCCI_TEST_EMPTY_VARIABLE"})
    [found] = caught.value.findings
    assert found.code == "CCCI-E304"
    assert "$CCCI_TEST_EMPTY_VARIABLE, which is not set or empty" in found.message


def test_every_bad_secret_length_is_reported(recipe):
    _with_smtp_secret(recipe, "# length=4")
    sample = recipe / ".env.sample"
    sample.write_text(sample.read_text().replace("length=48", "length=x"))
    with pytest.raises(RecipeProblem) as caught:
        plan_deploy(recipe, "app-1.ccci.test")
    assert {(f.code, f.key) for f in caught.value.findings} == {
        ("CCCI-E301", "SECRET_DB_PASSWORD_VERSION"), ("CCCI-E301", "SECRET_SMTP_PASSWORD_VERSION")}
