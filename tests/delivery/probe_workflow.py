"""A minimal workflow that calls the delivery activities by name with the product's DELIVERY options
and idempotency keys made as the real workflows make them (`{workflow_id}/{step}`), so delivery can be
tested through a real worker without depending on the research or agent loop."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, Field
from temporalio import workflow

with workflow.unsafe.imports_passed_through():
    from activities.delivery.models import DeliveryReceipt, DeliveryRequest
    from activities.kit import registry
    from activities.tools.models import SideEffectToolInput, ToolObservation
    from workflows.activity_options import DELIVERY


class ProbeDelivery(BaseModel):
    step: str
    target: str
    subject: str = "Probe report"
    body: str = "# Probe report\n\nbody\n"
    data: dict[str, Any] = Field(default_factory=dict)


class ProbeToolCall(BaseModel):
    step: str
    tool: str
    arguments: dict[str, object]


class DeliveryProbeInput(BaseModel):
    deliveries: list[ProbeDelivery] = Field(default_factory=list)
    tool_calls: list[ProbeToolCall] = Field(default_factory=list)


class DeliveryProbeResult(BaseModel):
    receipts: list[DeliveryReceipt] = Field(default_factory=list)
    observations: list[ToolObservation] = Field(default_factory=list)


@workflow.defn(name="DeliveryProbeWorkflow")
class DeliveryProbeWorkflow:
    @workflow.run
    async def run(self, params: DeliveryProbeInput) -> DeliveryProbeResult:
        workflow_id = workflow.info().workflow_id
        result = DeliveryProbeResult()
        for delivery in params.deliveries:
            request = DeliveryRequest(
                target=delivery.target,
                idempotency_key=f"{workflow_id}/{delivery.step}",
                subject=delivery.subject,
                body=delivery.body,
                data=delivery.data,
            )
            receipt = await workflow.execute_activity(
                "delivery.deliver", request, result_type=DeliveryReceipt, **DELIVERY.kwargs()
            )
            result.receipts.append(receipt)
        for call in params.tool_calls:
            tool_input = SideEffectToolInput(
                arguments=call.arguments, idempotency_key=f"{workflow_id}/{call.step}"
            )
            observation = await workflow.execute_activity(
                registry[call.tool].activity_name,
                tool_input,
                result_type=ToolObservation,
                **DELIVERY.kwargs(),
            )
            result.observations.append(observation)
        return result
