"""Reading template.yaml for the local stack: resources by type, SAM Globals, and intrinsic values
(Ref, Fn::GetAtt, Fn::Sub, ...) resolved to *local* physical names.

Local naming rules (the only names this package invents):
- DynamoDB table: its ``TableName`` if given, else the logical id;
- S3 bucket: its ``BucketName`` if given, else ``license-usage-local-<logical id lowercase>``;
- SNS topic: moto's ARN for its ``TopicName``, else for ``license-usage-local-<logical id>``;
- EventBridge bus: its ``Name``;
- Lambda function: its ``FunctionName``, else ``license-usage-local-<logical id>``;
- CloudWatch log group (named, never created locally): its ``LogGroupName``;
- API: a stable 10-character id derived from the logical id.
Everything else comes from the template, so resources added to it later need no change here.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

Json = dict[str, Any]

STACK_NAME = "license-usage-local"
REGION = "us-east-1"
ACCOUNT_ID = "123456789012"
PSEUDO_PARAMETERS: dict[str, Any] = {
    "AWS::Region": REGION,
    "AWS::AccountId": ACCOUNT_ID,
    "AWS::StackName": STACK_NAME,
    "AWS::StackId": f"arn:aws:cloudformation:{REGION}:{ACCOUNT_ID}:stack/{STACK_NAME}/local",
    "AWS::Partition": "aws",
    "AWS::URLSuffix": "amazonaws.com",
    "AWS::NotificationARNs": [],
}
TEMPLATE_FILE = "template.yaml"


class TemplateError(Exception):
    """template.yaml is missing, invalid, or uses something the local stack cannot resolve."""


def find_repo_root(start: Path | None = None) -> Path:
    """The folder holding template.yaml: from ``start`` (default: the current directory) upward,
    else the checkout this package was installed from (editable install)."""
    here = (start or Path.cwd()).resolve()
    for folder in (here, *here.parents):
        if (folder / TEMPLATE_FILE).is_file():
            return folder
    package_root = Path(__file__).resolve().parents[2]
    if (package_root / TEMPLATE_FILE).is_file():
        return package_root
    raise TemplateError(f"No {TEMPLATE_FILE} in {here} or above: run this from the project's checkout.")


def _deep_merge(base: Any, override: Any) -> Any:
    """SAM's Globals rule: maps merge key by key, lists concatenate, scalars are overridden."""
    if isinstance(base, dict) and isinstance(override, dict):
        merged = dict(base)
        for key, value in override.items():
            merged[key] = _deep_merge(base[key], value) if key in base else value
        return merged
    if isinstance(base, list) and isinstance(override, list):
        return base + override
    return override


def _local_parameter_value(definition: Json) -> Any:
    """A value for a parameter the template gives no default: nothing checks it locally."""
    if definition.get("Type") == "Number":
        return str(definition.get("MinValue", 0))
    if "AllowedValues" in definition:
        return str(definition["AllowedValues"][0])
    return "local"


@dataclass(frozen=True)
class Route:
    """One ``Type: Api`` event of a function: what API Gateway would route to it."""

    function: str  # logical id
    event: str  # the event's name in the function's Events
    method: str  # upper case, or ANY
    path: str  # template form, e.g. /v1/orgs/{org_id}/api-keys
    api: str | None  # logical id of the AWS::Serverless::Api, None for the implicit API
    authorizer: str | None  # the route's own Auth.Authorizer, if it names one (NONE included)


@dataclass(frozen=True)
class Schedule:
    """One ``Type: Schedule``/``ScheduleV2`` event of a function."""

    function: str
    event: str
    expression: str  # cron(...) or rate(...)
    input: str | None  # JSON text to send instead of the scheduled event, if given
    enabled: bool
    timezone: str | None  # ScheduleV2's ScheduleExpressionTimezone
    rule_name: str


@dataclass(frozen=True)
class QueueSource:
    """One ``Type: SQS`` event of a function: an event source mapping from a queue."""

    function: str
    event: str
    queue_arn: str
    queue_name: str
    batch_size: int
    reports_failures: bool  # FunctionResponseTypes: [ReportBatchItemFailures]
    enabled: bool


@dataclass(frozen=True)
class Template:
    """template.yaml, decoded, with its parameters given their default or local values."""

    path: Path
    body: Json
    parameters: dict[str, Any] = field(default_factory=dict)

    @classmethod
    def load(cls, path: Path, parameter_overrides: Mapping[str, str] | None = None) -> Template:
        if not path.is_file():
            raise TemplateError(f"{path} does not exist.")
        # Imported here: cfn-lint takes a second to import, which `usage-local token` need not pay
        # and `usage-local run` pays while DynamoDB Local boots.
        from cfnlint.decode import decode

        decoded, matches = decode(str(path))
        if matches or decoded is None:
            raise TemplateError(f"{path} cannot be read: {[str(m) for m in matches]}")
        # cfn-lint's nodes are dict/str subclasses carrying line marks: plain JSON is easier to compare.
        body: Json = json.loads(json.dumps(decoded))
        parameters: dict[str, Any] = {}
        for name, definition in (body.get("Parameters") or {}).items():
            if parameter_overrides and name in parameter_overrides:
                parameters[name] = parameter_overrides[name]
            elif "Default" in definition:
                default = definition["Default"]
                parameters[name] = default if isinstance(default, list) else str(default)
            else:
                parameters[name] = _local_parameter_value(definition)
            if definition.get("Type") == "CommaDelimitedList" and isinstance(parameters[name], str):
                parameters[name] = parameters[name].split(",")
        return cls(path=path, body=body, parameters=parameters)

    @property
    def root(self) -> Path:
        return self.path.parent

    # ------------------------------------------------------------------ resources
    @property
    def all_resources(self) -> dict[str, Json]:
        resources: dict[str, Json] = self.body.get("Resources") or {}
        return resources

    def resources(self, type_: str) -> dict[str, Json]:
        """Resources of one type, in template order, by logical id."""
        return {k: v for k, v in self.all_resources.items() if v.get("Type") == type_}

    def resource(self, logical_id: str) -> Json:
        try:
            return self.all_resources[logical_id]
        except KeyError:
            raise TemplateError(f"template.yaml has no resource {logical_id!r}.") from None

    def properties(self, logical_id: str) -> Json:
        """A resource's properties, with SAM Globals merged in for functions and APIs."""
        resource = self.resource(logical_id)
        props: Json = resource.get("Properties") or {}
        globals_key = {"AWS::Serverless::Function": "Function", "AWS::Serverless::Api": "Api"}.get(resource["Type"])
        if globals_key:
            defaults = (self.body.get("Globals") or {}).get(globals_key) or {}
            merged: Json = _deep_merge(defaults, props)
            return merged
        return props

    # ------------------------------------------------------------------ local names
    def physical_name(self, logical_id: str) -> Any:
        """What ``!Ref logical_id`` gives locally."""
        if logical_id in PSEUDO_PARAMETERS:
            return PSEUDO_PARAMETERS[logical_id]
        if logical_id in self.parameters:
            return self.parameters[logical_id]
        type_ = self.resource(logical_id)["Type"]
        props = self.resource(logical_id).get("Properties") or {}
        if type_ == "AWS::DynamoDB::Table":
            return self.resolve(props.get("TableName", logical_id))
        if type_ == "AWS::S3::Bucket":
            return self.resolve(props.get("BucketName", f"{STACK_NAME}-{logical_id.lower()}"))
        if type_ == "AWS::SNS::Topic":
            return f"arn:aws:sns:{REGION}:{ACCOUNT_ID}:{self.topic_name(logical_id)}"
        if type_ == "AWS::Events::EventBus":
            return self.resolve(props["Name"])
        if type_ == "AWS::SQS::Queue":
            return f"https://sqs.{REGION}.amazonaws.com/{ACCOUNT_ID}/{self.queue_name(logical_id)}"
        if type_ in ("AWS::Serverless::Function", "AWS::Lambda::Function"):
            return self.resolve(props.get("FunctionName", f"{STACK_NAME}-{logical_id}"))
        if type_ in ("AWS::Serverless::Api", "AWS::ApiGateway::RestApi"):
            return self.api_id(logical_id)
        if type_ in ("AWS::Serverless::LayerVersion", "AWS::Lambda::LayerVersion"):
            return f"arn:aws:lambda:{REGION}:{ACCOUNT_ID}:layer:{logical_id}:1"
        if type_ == "AWS::Logs::LogGroup":  # no stand-in: the local functions log to the stack's log
            return self.resolve(props.get("LogGroupName", f"{STACK_NAME}-{logical_id}"))
        return logical_id

    def topic_name(self, logical_id: str) -> str:
        props = self.resource(logical_id).get("Properties") or {}
        if "TopicName" in props:
            return str(self.resolve(props["TopicName"]))
        fifo = str(props.get("FifoTopic", "")).lower() == "true"
        return f"{STACK_NAME}-{logical_id}" + (".fifo" if fifo else "")

    def queue_name(self, logical_id: str) -> str:
        props = self.resource(logical_id).get("Properties") or {}
        if "QueueName" in props:
            return str(self.resolve(props["QueueName"]))
        fifo = str(props.get("FifoQueue", "")).lower() == "true"
        return f"{STACK_NAME}-{logical_id}" + (".fifo" if fifo else "")

    @staticmethod
    def api_id(logical_id: str) -> str:
        # API Gateway ids are 10 lowercase alphanumerics; derive one so ARNs are stable across runs.
        return hashlib.sha256(logical_id.encode()).hexdigest()[:10]

    def attribute(self, logical_id: str, attribute: str) -> Any:
        """What ``!GetAtt logical_id.attribute`` gives locally."""
        type_ = self.resource(logical_id)["Type"]
        name = self.physical_name(logical_id)
        arn_prefix = f"arn:aws:{{}}:{REGION}:{ACCOUNT_ID}:"
        values: dict[str, dict[str, Any]] = {
            "AWS::DynamoDB::Table": {
                "Arn": arn_prefix.format("dynamodb") + f"table/{name}",
                "StreamArn": arn_prefix.format("dynamodb") + f"table/{name}/stream/local",
            },
            "AWS::S3::Bucket": {
                "Arn": f"arn:aws:s3:::{name}",
                "DomainName": f"{name}.s3.amazonaws.com",
                "RegionalDomainName": f"{name}.s3.{REGION}.amazonaws.com",
            },
            "AWS::SNS::Topic": {"TopicArn": name, "TopicName": str(name).rsplit(":", 1)[-1]},
            "AWS::Events::EventBus": {"Arn": arn_prefix.format("events") + f"event-bus/{name}", "Name": name},
            "AWS::SQS::Queue": {
                "Arn": arn_prefix.format("sqs") + str(name).rsplit("/", 1)[-1],
                "QueueName": str(name).rsplit("/", 1)[-1],
                "QueueUrl": name,
            },
            "AWS::Serverless::Function": {"Arn": arn_prefix.format("lambda") + f"function:{name}"},
            "AWS::Lambda::Function": {"Arn": arn_prefix.format("lambda") + f"function:{name}"},
            "AWS::Serverless::Api": {"RootResourceId": "root"},
            "AWS::Logs::LogGroup": {"Arn": arn_prefix.format("logs") + f"log-group:{name}:*"},
        }
        try:
            return values[type_][attribute]
        except KeyError:
            raise TemplateError(f"No local value for !GetAtt {logical_id}.{attribute} ({type_}).") from None

    # ------------------------------------------------------------------ intrinsic functions
    def resolve(self, value: Any) -> Any:
        """``value`` with every intrinsic function replaced by its local value."""
        if isinstance(value, list):
            return [self.resolve(v) for v in value]
        if not isinstance(value, dict):
            return value
        if len(value) == 1:
            ((key, arg),) = value.items()
            if key == "Ref":
                return self.physical_name(arg)
            if key == "Fn::GetAtt":
                logical_id, attribute = arg.split(".", 1) if isinstance(arg, str) else arg
                return self.attribute(logical_id, self.resolve(attribute))
            if key == "Fn::Sub":
                return self._sub(arg)
            if key == "Fn::Join":
                separator, items = arg
                return str(separator).join(str(i) for i in self.resolve(items))
            if key == "Fn::Select":
                index, items = self.resolve(arg)
                return items[int(index)]
            if key == "Fn::Split":
                separator, text = self.resolve(arg)
                return str(text).split(separator)
            if key == "Fn::If":
                condition, if_true, if_false = arg
                return self.resolve(if_true if self.condition(condition) else if_false)
            if key.startswith("Fn::") or key == "Condition":
                raise TemplateError(f"The local stack cannot resolve {key}: {arg!r}.")
        return {k: self.resolve(v) for k, v in value.items()}

    def condition(self, name: str) -> bool:
        return self._evaluate((self.body.get("Conditions") or {})[name])

    def _evaluate(self, expression: Any) -> bool:
        ((key, arg),) = expression.items()
        if key == "Condition":
            return self.condition(arg)
        if key == "Fn::Equals":
            left, right = self.resolve(arg)
            return str(left) == str(right)
        if key == "Fn::Not":
            return not self._evaluate(arg[0])
        if key == "Fn::And":
            return all(self._evaluate(a) for a in arg)
        if key == "Fn::Or":
            return any(self._evaluate(a) for a in arg)
        raise TemplateError(f"Unknown condition function {key}.")

    def _sub(self, arg: Any) -> str:
        text, variables = (arg, {}) if isinstance(arg, str) else (arg[0], arg[1])

        def replace(match: re.Match[str]) -> str:
            name = match.group(1)
            if name.startswith("!"):
                return "${" + name[1:] + "}"  # ${!Literal} is the escape for a literal ${Literal}
            if name in variables:
                return str(self.resolve(variables[name]))
            if name in PSEUDO_PARAMETERS or name in self.parameters or name in self.all_resources:
                return str(self.physical_name(name))
            if "." in name:
                logical_id, attribute = name.split(".", 1)
                return str(self.attribute(logical_id, attribute))
            raise TemplateError(f"Fn::Sub names an unknown ${{{name}}}.")

        return re.sub(r"\$\{([^}]+)\}", replace, str(text))

    # ------------------------------------------------------------------ functions and their events
    def functions(self) -> dict[str, Json]:
        """Every AWS::Serverless::Function, with Globals merged into its properties."""
        return {name: self.properties(name) for name in self.resources("AWS::Serverless::Function")}

    def function_environment(self, logical_id: str) -> dict[str, str]:
        """The Lambda environment variables the template gives a function, resolved locally."""
        variables = (self.properties(logical_id).get("Environment") or {}).get("Variables") or {}
        return {name: _as_env_value(self.resolve(value)) for name, value in variables.items()}

    def routes(self) -> list[Route]:
        routes: list[Route] = []
        for name, props in self.functions().items():
            for event_name, event in (props.get("Events") or {}).items():
                if event.get("Type") != "Api":
                    continue
                eprops = event.get("Properties") or {}
                api = eprops.get("RestApiId")
                api_id = api.get("Ref") if isinstance(api, dict) else api
                auth = (eprops.get("Auth") or {}).get("Authorizer")
                routes.append(
                    Route(
                        function=name,
                        event=event_name,
                        method=str(eprops["Method"]).upper(),
                        path=str(eprops["Path"]),
                        api=api_id,
                        authorizer=auth,
                    )
                )
        return routes

    def schedules(self) -> list[Schedule]:
        schedules: list[Schedule] = []
        for name, props in self.functions().items():
            for event_name, event in (props.get("Events") or {}).items():
                type_ = event.get("Type")
                if type_ not in ("Schedule", "ScheduleV2"):
                    continue
                eprops = self.resolve(event.get("Properties") or {})
                expression = eprops.get("Schedule") or eprops.get("ScheduleExpression")
                enabled = eprops.get("Enabled", True) is not False and eprops.get("State", "ENABLED") in (
                    "ENABLED",
                    None,
                )
                schedules.append(
                    Schedule(
                        function=name,
                        event=event_name,
                        expression=str(expression),
                        input=eprops.get("Input"),
                        enabled=bool(enabled),
                        timezone=eprops.get("ScheduleExpressionTimezone"),
                        rule_name=str(eprops.get("Name") or f"{STACK_NAME}-{name}{event_name}"),
                    )
                )
        return schedules

    def queue_sources(self) -> list[QueueSource]:
        sources: list[QueueSource] = []
        for name, props in self.functions().items():
            for event_name, event in (props.get("Events") or {}).items():
                if event.get("Type") != "SQS":
                    continue
                eprops = self.resolve(event.get("Properties") or {})
                arn = str(eprops["Queue"])
                sources.append(
                    QueueSource(
                        function=name,
                        event=event_name,
                        queue_arn=arn,
                        queue_name=arn.rsplit(":", 1)[-1],
                        batch_size=int(eprops.get("BatchSize", 10)),
                        reports_failures="ReportBatchItemFailures" in (eprops.get("FunctionResponseTypes") or []),
                        enabled=eprops.get("Enabled", True) is not False,
                    )
                )
        return sources


def _as_env_value(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, dict | list):
        return json.dumps(value)
    return str(value)
