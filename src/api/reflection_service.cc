#include "src/api/reflection_service.h"

#include <google/protobuf/descriptor.h>
#include <google/protobuf/descriptor.pb.h>

#include <set>

#include "src/api/grpc_status.h"

namespace vecsync::api {
namespace {

namespace reflection = grpc::reflection::v1alpha;
using google::protobuf::DescriptorPool;
using google::protobuf::FileDescriptor;

// Adds `file`, always, and the files it imports that this stream has not had (`sent`), to `out`.
void AddFileAndImports(const FileDescriptor* file, std::set<std::string>* sent,
                       reflection::FileDescriptorResponse* out) {
  sent->insert(file->name());
  google::protobuf::FileDescriptorProto proto;
  file->CopyTo(&proto);
  out->add_file_descriptor_proto(proto.SerializeAsString());
  for (int i = 0; i < file->dependency_count(); ++i) {
    if (!sent->contains(file->dependency(i)->name())) {
      AddFileAndImports(file->dependency(i), sent, out);
    }
  }
}

void SetError(grpc::StatusCode code, const std::string& message,
              reflection::ServerReflectionResponse* response) {
  response->mutable_error_response()->set_error_code(code);
  response->mutable_error_response()->set_error_message(message);
}

}  // namespace

ReflectionService::ReflectionService(const BearerAuth* auth, std::vector<std::string> services)
    : auth_(auth), services_(std::move(services)) {
  services_.push_back(reflection::ServerReflection::service_full_name());
}

grpc::Status ReflectionService::ServerReflectionInfo(
    grpc::ServerContext* context,
    grpc::ServerReaderWriter<reflection::ServerReflectionResponse,
                             reflection::ServerReflectionRequest>* stream) {
  if (absl::Status s = auth_->Check(*context); !s.ok()) return ToGrpcStatus(s);
  const DescriptorPool* pool = DescriptorPool::generated_pool();
  std::set<std::string> sent;  // Files this stream has had.
  reflection::ServerReflectionRequest request;
  while (stream->Read(&request)) {
    reflection::ServerReflectionResponse response;
    response.set_valid_host(request.host());
    *response.mutable_original_request() = request;
    const FileDescriptor* file = nullptr;
    std::string not_found;
    switch (request.message_request_case()) {
      case reflection::ServerReflectionRequest::kListServices:
        for (const std::string& name : services_) {
          response.mutable_list_services_response()->add_service()->set_name(name);
        }
        break;
      case reflection::ServerReflectionRequest::kFileByFilename:
        file = pool->FindFileByName(request.file_by_filename());
        not_found = "no file " + request.file_by_filename();
        break;
      case reflection::ServerReflectionRequest::kFileContainingSymbol:
        file = pool->FindFileContainingSymbol(request.file_containing_symbol());
        not_found = "no symbol " + request.file_containing_symbol();
        break;
      case reflection::ServerReflectionRequest::kFileContainingExtension: {
        const auto& asked = request.file_containing_extension();
        const google::protobuf::Descriptor* type =
            pool->FindMessageTypeByName(asked.containing_type());
        const google::protobuf::FieldDescriptor* extension =
            type == nullptr ? nullptr : pool->FindExtensionByNumber(type, asked.extension_number());
        if (extension != nullptr) file = extension->file();
        not_found = "no extension " + std::to_string(asked.extension_number()) + " of " +
                    asked.containing_type();
        break;
      }
      case reflection::ServerReflectionRequest::kAllExtensionNumbersOfType: {
        const google::protobuf::Descriptor* type =
            pool->FindMessageTypeByName(request.all_extension_numbers_of_type());
        if (type == nullptr) {
          SetError(grpc::StatusCode::NOT_FOUND,
                   "no type " + request.all_extension_numbers_of_type(), &response);
          break;
        }
        std::vector<const google::protobuf::FieldDescriptor*> extensions;
        pool->FindAllExtensions(type, &extensions);
        auto* numbers = response.mutable_all_extension_numbers_response();
        numbers->set_base_type_name(type->full_name());
        for (const auto* e : extensions) numbers->add_extension_number(e->number());
        break;
      }
      default:
        SetError(grpc::StatusCode::UNIMPLEMENTED, "unknown request", &response);
        break;
    }
    if (file != nullptr) {
      AddFileAndImports(file, &sent, response.mutable_file_descriptor_response());
    } else if (!not_found.empty()) {
      SetError(grpc::StatusCode::NOT_FOUND, not_found, &response);
    }
    if (!stream->Write(response)) break;
  }
  return grpc::Status::OK;
}

}  // namespace vecsync::api
