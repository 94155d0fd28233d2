"""Wire the ECS simulator into moto's ECS backend and responses."""

from __future__ import annotations

import time
from typing import Any, Optional

from moto.core.responses import ActionResult
from moto.ecs.exceptions import ECSException, InvalidParameterException
from moto.ecs.models import EC2ContainerServiceBackend
from moto.ecs.responses import EC2ContainerServiceResponse

from . import ecs_deployments, ecs_runtask, ecs_sim
from .ecs_deployments import EcsApiError

B = EC2ContainerServiceBackend
_orig_create_service = B.create_service
_orig_update_service = B.update_service
_orig_describe_services = B.describe_services
_orig_delete_service = B.delete_service
_orig_list_tasks = B.list_tasks
_orig_describe_tasks = B.describe_tasks
_orig_stop_task = B.stop_task
_orig_describe_capacity_providers = B.describe_capacity_providers
_orig_describe_clusters = B.describe_clusters

# extra CreateService parameters moto does not model, stored on the Service object
EXTRA_SERVICE_PARAMS = {
    "deploymentConfiguration": "deployment_configuration",
    "capacityProviderStrategy": "capacity_provider_strategy",
    "healthCheckGracePeriodSeconds": "health_check_grace_period_seconds",
    "enableExecuteCommand": "enable_execute_command",
    "enableECSManagedTags": "enable_ecs_managed_tags",
    "placementConstraints": "placement_constraints",
    "placementStrategy": "placement_strategy",
}


class ServiceNotActiveException(ECSException):
    def __init__(self) -> None:
        super().__init__("ServiceNotActiveException", "Service was not ACTIVE.")


def _api_error(e: EcsApiError) -> ECSException:
    return ECSException(e.code, e.message)


def _validate_strategy(config: Optional[dict[str, Any]], load_balancers: Any, controller: Any) -> None:
    try:
        ecs_deployments.validate(
            ecs_sim.normalise_deployment_configuration(config),
            list(load_balancers or []),
            (controller or {}).get("type", "ECS") if isinstance(controller, dict) else "ECS",
        )
    except EcsApiError as e:
        raise _api_error(e)


def _existing(self: B, cluster_str: str, service_str: str) -> Optional[Any]:
    try:
        return self._get_service(cluster_str, service_str.split("/")[-1])
    except Exception:
        return None


def _settle(service: Any) -> None:
    sim = ecs_sim.sim_for(service)
    if sim is not None:
        sim.advance(time.time())
        sim.sync()


def create_service(self: B, cluster_str: str, service_name: str, desired_count: int, *args: Any, **kwargs: Any) -> Any:
    extras = {k: kwargs.pop(k) for k in list(kwargs) if k in EXTRA_SERVICE_PARAMS.values()}
    load_balancers = args[1] if len(args) > 1 else kwargs.get("load_balancers")
    controller = args[4] if len(args) > 4 else kwargs.get("deployment_controller")
    _validate_strategy(extras.get("deployment_configuration"), load_balancers, controller)
    with ecs_sim.LOCK:
        old = _existing(self, cluster_str, service_name)
        if old is not None:
            _settle(old)
            if old.status == "DRAINING":
                raise InvalidParameterException("Unable to Start a service that is still Draining.")
        service = _orig_create_service(self, cluster_str, service_name, desired_count, *args, **kwargs)
        # moto stores whatever string was given; ECS answers the resolved revision ARN
        if service.task_definition:
            service.task_definition = self.describe_task_definition(service.task_definition).arn
        for attr, value in extras.items():
            if value is not None:
                setattr(service, attr, value)
        if service.deployment_controller.get("type", "ECS") == "ECS":
            sim = ecs_sim.ServiceSim(
                service,
                self,
                time.time(),
                extras.get("deployment_configuration"),
                extras.get("capacity_provider_strategy"),
            )
            ecs_sim.register(sim)
            sim.sync()
        return service


def _find(self: B, cluster_str: str, service_str: str) -> Optional[ecs_sim.ServiceSim]:
    try:
        service = self._get_service(cluster_str, service_str.split("/")[-1])
    except Exception:
        return None
    return ecs_sim.sim_for(service)


def update_service(self: B, service_properties: dict[str, Any]) -> Any:
    props = dict(service_properties)
    cluster_str = props.get("cluster", "default")
    with ecs_sim.LOCK:
        now = time.time()
        sim = _find(self, cluster_str, props.get("service", ""))
        if sim is not None:
            sim.advance(now)
            sim.sync()
            if sim.service.status != "ACTIVE":
                raise ServiceNotActiveException()
            if props.get("deployment_configuration") is not None or props.get("load_balancers") is not None:
                _validate_strategy(
                    {**sim.deployment_configuration, **(props.get("deployment_configuration") or {})},
                    props.get("load_balancers") if props.get("load_balancers") is not None else sim.load_balancers,
                    sim.service.deployment_controller,
                )
        td_str = props.get("task_definition")
        new_td = self.describe_task_definition(td_str).arn if td_str else None
        service = _orig_update_service(self, service_properties)
        if new_td:
            service.task_definition = new_td
        if sim is None:
            return service
        if props.get("deployment_configuration") is not None:
            sim.deployment_configuration = ecs_sim.normalise_deployment_configuration(
                {**sim.deployment_configuration, **props["deployment_configuration"]}
            )
        if props.get("capacity_provider_strategy") is not None:
            sim.capacity_provider_strategy = props["capacity_provider_strategy"]
        if props.get("load_balancers") is not None:
            sim.load_balancers = props["load_balancers"]
        sim.on_update(
            now,
            new_td or sim.primary.task_definition,
            bool(props.get("force_new_deployment")),
            props.get("desired_count"),
        )
        sim.sync()
        return service


def describe_services(self: B, cluster_str: str, names: list[str]) -> Any:
    with ecs_sim.LOCK:
        services, failures = _orig_describe_services(self, cluster_str, names)
        now = time.time()
        for service in services:
            sim = ecs_sim.sim_for(service)
            if sim is not None:
                sim.advance(now)
        return services, failures


def delete_service(self: B, cluster_name: str, service_name: str, force: bool) -> Any:
    """DeleteService answers the service DRAINING; it turns INACTIVE once its tasks are gone."""
    with ecs_sim.LOCK:
        existing = _existing(self, cluster_name, service_name)
        if existing is not None:
            _settle(existing)
            if existing.status != "ACTIVE":
                raise ServiceNotActiveException()
        service = _orig_delete_service(self, cluster_name, service_name, force)
        sim = ecs_sim.sim_for(service)
        if sim is not None:
            service.status = "DRAINING"
            service.desired_count = 0
            sim.on_delete(time.time())
            sim.clock = time.time()
            sim.sync()
        return service


def list_tasks(
    self: B,
    cluster_str: Optional[str] = None,
    container_instance: Optional[str] = None,
    family: Optional[str] = None,
    started_by: Optional[str] = None,
    service_name: Optional[str] = None,
    desiredStatus: Optional[str] = None,
) -> list[Any]:
    with ecs_sim.LOCK:
        moto_tasks = _orig_list_tasks(self, cluster_str, container_instance, family, started_by, None, None)
        cluster = self._get_cluster(cluster_str or "default")
        ecs_sim.advance_cluster(cluster.arn, time.time())
        sim_tasks: list[Any] = [] if container_instance else [
            x for x in ecs_sim.all_tasks() if x["clusterArn"] == cluster.arn
        ]
        if family:
            sim_tasks = [x for x in sim_tasks if x["taskDefinitionArn"].split("/")[-1].rsplit(":", 1)[0] == family]
        if started_by:
            sim_tasks = [x for x in sim_tasks if x["startedBy"] == started_by]
        result = list(moto_tasks) + sim_tasks
        if service_name:
            group = f"service:{service_name.split('/')[-1]}"
            result = [x for x in result if _get(x, "group") == group]
        status = desiredStatus or "RUNNING"
        return [x for x in result if _get(x, "desiredStatus") == status]


def _get(task: Any, key: str) -> Any:
    if isinstance(task, dict):
        return task.get(key)
    return {"group": getattr(task, "group", None), "desiredStatus": getattr(task, "desired_status", None)}[key]


def describe_tasks(self: B, cluster_str: str, tasks: list[str]) -> list[Any]:
    with ecs_sim.LOCK:
        result = list(_orig_describe_tasks(self, cluster_str, tasks))
        cluster = self._get_cluster(cluster_str)
        ecs_sim.advance_cluster(cluster.arn, time.time())
        for ref in tasks:
            task = ecs_sim.find_task(cluster.arn, ref)
            if task is not None:
                result.append(task)
        return result


def stop_task(self: B, cluster_str: str, task_str: str, reason: str) -> Any:
    with ecs_sim.LOCK:
        cluster = self._get_cluster(cluster_str)
        task = ecs_sim.find_task(cluster.arn, task_str)
        if task is None:
            return _orig_stop_task(self, cluster_str, task_str, reason)
        sim = ecs_sim.sim_of_task(task)
        if sim is not None:
            sim.advance(time.time())
            if task.live():
                sim.stop_task(task, time.time(), reason)
            sim.sync()
        elif ecs_runtask.is_oneoff(task):
            ecs_runtask.advance(cluster.arn, time.time())
            ecs_runtask.stop(task, reason)
        return task


def describe_clusters(self: B, cluster_names: list[str]) -> Any:
    """Cluster task/service counts from the simulated services (moto's are bookkeeping noise)."""
    with ecs_sim.LOCK:
        clusters, failures = _orig_describe_clusters(self, cluster_names)
        now = time.time()
        for cluster in clusters:
            ecs_sim.advance_cluster(cluster.arn, now)
            moto_tasks = [t for t in self.tasks.get(cluster.name, {}).values() if t.desired_status == "RUNNING"]
            sim_tasks = [x for x in ecs_sim.all_tasks() if x["clusterArn"] == cluster.arn and x.live()]
            cluster.running_tasks_count = sum(1 for t in moto_tasks if t.last_status == "RUNNING") + sum(
                1 for x in sim_tasks if x["lastStatus"] in ("RUNNING", "DEACTIVATING")
            )
            cluster.pending_tasks_count = sum(1 for t in moto_tasks if t.last_status == "PENDING") + sum(
                1 for x in sim_tasks if x["lastStatus"] == "PENDING"
            )
            cluster.active_services_count = sum(
                1 for s in self.services.values() if s.cluster_arn == cluster.arn and s.status == "ACTIVE"
            )
        return clusters, failures


def describe_capacity_providers(self: B, names: Optional[list[str]]) -> Any:
    # moto 5.2.5 answers 500 when no names are given; ECS then lists all of them
    if not names:
        return list(self.capacity_providers.values()), []
    return _orig_describe_capacity_providers(self, names)


# --- service deployments -------------------------------------------------------------------


def _advance_sim(sim: ecs_sim.ServiceSim) -> None:
    sim.advance(time.time())
    sim.sync()


def resp_describe_service_deployments(self: EC2ContainerServiceResponse) -> ActionResult:
    arns = self._get_param("serviceDeploymentArns") or []
    with ecs_sim.LOCK:
        try:
            found, failures = ecs_deployments.describe(list(arns), _advance_sim)
        except EcsApiError as e:
            raise _api_error(e)
    return ActionResult({"serviceDeployments": found, "failures": failures})


def resp_list_service_deployments(self: EC2ContainerServiceResponse) -> ActionResult:
    cluster_str = self._get_param("cluster", "default")
    service_str = self._get_param("service")
    with ecs_sim.LOCK:
        self.ecs_backend._get_cluster(cluster_str)  # ClusterNotFoundException
        service = self.ecs_backend._get_service(cluster_str, service_str.split("/")[-1])  # ServiceNotFoundException
        sim = ecs_sim.sim_for(service)
        if sim is None:
            return ActionResult({"serviceDeployments": []})
        _advance_sim(sim)
        try:
            out = ecs_deployments.list_for(
                sim,
                self._get_param("status"),
                self._get_param("createdAt"),
                self._get_param("maxResults"),
                self._get_param("nextToken"),
            )
        except EcsApiError as e:
            raise _api_error(e)
    return ActionResult(out)


def resp_stop_service_deployment(self: EC2ContainerServiceResponse) -> ActionResult:
    arn = self._get_param("serviceDeploymentArn")
    stop_type = self._get_param("stopType") or "ROLLBACK"
    with ecs_sim.LOCK:
        sd = ecs_deployments.find(arn or "")
        if sd is None:
            raise ECSException("ServiceDeploymentNotFoundException", f"The service deployment {arn} does not exist.")
        if stop_type != "ROLLBACK":
            raise InvalidParameterException(f"stopType {stop_type} is not supported. Valid value: ROLLBACK.")
        _advance_sim(sd.sim)
        if sd.status not in ("PENDING", "IN_PROGRESS"):
            raise ECSException(
                "ConflictException",
                f"The service deployment {arn} is {sd.status} and cannot be stopped.",
            )
        sd.sim.stop_service_deployment(sd, time.time())
        sd.sim.sync()
    return ActionResult({"serviceDeploymentArn": arn})


def resp_run_task(self: EC2ContainerServiceResponse) -> ActionResult:
    """RunTask of one-off tasks (ecs_runtask): the simulator runs and stops them."""
    params = {k: self._get_param(k) for k in (
        "cluster", "taskDefinition", "count", "capacityProviderStrategy", "launchType", "networkConfiguration",
        "overrides", "startedBy", "group", "tags", "placementConstraints", "placementStrategy",
        "enableECSManagedTags", "propagateTags", "referenceId", "clientToken")}
    if not params.get("taskDefinition"):
        raise InvalidParameterException("taskDefinition can not be blank.")
    with ecs_sim.LOCK:
        try:
            tasks, failures = ecs_runtask.run_task(self.ecs_backend, params)
        except EcsApiError as e:
            raise _api_error(e)
    return ActionResult({"tasks": tasks, "failures": failures})


# --- responses ---------------------------------------------------------------------------

_orig_resp_create_service = EC2ContainerServiceResponse.create_service
_orig_resp_describe_tasks = EC2ContainerServiceResponse.describe_tasks


def resp_create_service(self: EC2ContainerServiceResponse) -> ActionResult:
    cluster_str = self._get_param("cluster", "default")
    kwargs = {attr: self._get_param(param) for param, attr in EXTRA_SERVICE_PARAMS.items()}
    service = self.ecs_backend.create_service(
        cluster_str,
        self._get_param("serviceName"),
        self._get_int_param("desiredCount"),
        self._get_param("taskDefinition"),
        self._get_param("loadBalancers"),
        self._get_param("schedulingStrategy"),
        self._get_param("tags"),
        self._get_param("deploymentController"),
        self._get_param("launchType"),
        network_configuration=self._get_param("networkConfiguration"),
        service_registries=self._get_param("serviceRegistries"),
        platform_version=self._get_param("platformVersion"),
        propagate_tags=self._get_param("propagateTags") or "NONE",
        role_arn=self._get_param("role"),
        **kwargs,
    )
    return ActionResult({"service": service})


def resp_describe_tasks(self: EC2ContainerServiceResponse) -> ActionResult:
    result = _orig_resp_describe_tasks(self)
    refs = self._get_param("tasks", [])
    found = result.result["tasks"]  # type: ignore[attr-defined]
    found_ids = {_task_arn(t).rsplit("/", 1)[-1] for t in found}
    region, account = self.region, self.current_account
    result.result["failures"] = [  # type: ignore[attr-defined]
        {"arn": ref if ref.startswith("arn:") else f"arn:aws:ecs:{region}:{account}:task/{ref}", "reason": "MISSING"}
        for ref in refs
        if ref.rsplit("/", 1)[-1] not in found_ids
    ]
    return result


def _task_arn(task: Any) -> str:
    return task["taskArn"] if isinstance(task, dict) else task.task_arn


def install() -> None:
    B.create_service = create_service  # type: ignore[method-assign]
    B.update_service = update_service  # type: ignore[method-assign]
    B.describe_services = describe_services  # type: ignore[method-assign]
    B.delete_service = delete_service  # type: ignore[method-assign]
    B.list_tasks = list_tasks  # type: ignore[method-assign]
    B.describe_tasks = describe_tasks  # type: ignore[method-assign]
    B.stop_task = stop_task  # type: ignore[method-assign]
    B.describe_capacity_providers = describe_capacity_providers  # type: ignore[method-assign]
    B.describe_clusters = describe_clusters  # type: ignore[method-assign]
    EC2ContainerServiceResponse.create_service = resp_create_service  # type: ignore[method-assign]
    EC2ContainerServiceResponse.describe_tasks = resp_describe_tasks  # type: ignore[method-assign]
    EC2ContainerServiceResponse.describe_service_deployments = resp_describe_service_deployments  # type: ignore[attr-defined]
    EC2ContainerServiceResponse.list_service_deployments = resp_list_service_deployments  # type: ignore[attr-defined]
    EC2ContainerServiceResponse.stop_service_deployment = resp_stop_service_deployment  # type: ignore[attr-defined]
    EC2ContainerServiceResponse.run_task = resp_run_task  # type: ignore[method-assign]
